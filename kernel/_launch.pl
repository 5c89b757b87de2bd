# Starts the fused kernel with its five sockets already listening (the kernelspec runs
# `perl _launch.pl DENO ARGS... CONNECTION_FILE`).
#
# Jupyter's client connects right after it starts the kernel process. A port nobody listens on
# yet refuses the connection, and libzmq retries only 100-200 ms later, while Deno needs 60 ms or
# more of CPU to reach the kernel's first line. Perl listens within a few milliseconds, so the
# client's first connection waits in the listen backlog; Deno (this same process after exec)
# accepts on the inherited sockets (kernel/_launch.ts). Perl, not Python: 4 ms of CPU to start
# against 13-35 ms, which decides whether the launcher listens before the client connects.
#
# Only builtins (no modules to load). Anything unexpected (no IPv4 address, a port taken, an
# unreadable file) leaves the sockets to Deno: the launcher execs it exactly as the plain
# kernelspec does, and the kernel binds the ports itself and names any problem.
use strict;

@ARGV >= 2 or die "Usage: perl _launch.pl DENO ARGS... CONNECTION_FILE\n";
$^F = 1023;    # descriptors opened from here on survive exec (Perl closes those above $^F)
my @fds;
my @socks;
eval {
    open(my $f, '<', $ARGV[-1]) or die;
    my $info = do { local $/; <$f> };
    close($f);
    die if $info =~ /"transport"\s*:\s*"(?!tcp")/;
    my ($ip) = $info =~ /"ip"\s*:\s*"([^"]*)"/;
    $ip = '0.0.0.0' if !defined($ip) || $ip eq '' || $ip eq '*';
    my @octets = $ip =~ /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/ or die;
    die if grep { $_ > 255 } @octets;
    for my $name ('shell', 'control', 'stdin', 'iopub', 'hb') {
        my ($port) = $info =~ /"${name}_port"\s*:\s*(\d+)\s*[,}]/ or die;
        die if $port < 1 || $port > 65535;
        # AF_INET 2, SOCK_STREAM 1, SOL_SOCKET 1, SO_REUSEADDR 2 (Linux, where this runs)
        socket(my $s, 2, 1, 0) or die;
        setsockopt($s, 1, 2, pack('i', 1)) or die;
        bind($s, pack('S n C4 x8', 2, $port, @octets)) or die;
        listen($s, 511) or die;
        push @socks, $s;
        push @fds, "$name:" . fileno($s);
    }
};
if ($@) {
    close($_) for @socks;
} else {
    $ENV{FUSED_KERNEL_LISTEN_FDS} = join(',', @fds);
}
exec { $ARGV[0] } @ARGV or die "Cannot run $ARGV[0]: $!\n";
