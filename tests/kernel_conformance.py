"""Debian's jupyter_kernel_test suite (python3-jupyter-kernel-test 0.4.5) against the fused kernel.

Run: JUPYTER_PATH=<prefix>/share/jupyter /usr/bin/python3 -m unittest -v tests/kernel_conformance.py
(tests/kernel_e2e_test.ts does this with a freshly installed kernelspec). SIGALRM bounds the run.
"""

import os
import signal
import unittest

import jupyter_kernel_test

signal.alarm(int(os.environ.get("CONFORMANCE_TIMEOUT", "240")))


class FusedKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "fused"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("something went wrong")'

    completion_samples = [
        {"text": "Math.P", "matches": ["PI"]},
        {"text": "JSON.str", "matches": ["stringify"]},
        {"text": "Deno.readTextF", "matches": ["readTextFile", "readTextFileSync"]},
    ]

    complete_code_samples = ["1 + 1", "const a = 1;", "function f() { return 1 }", "if (a) {\n  a\n}"]
    incomplete_code_samples = ["function f() {", "const s = `abc", "[1, 2,"]
    invalid_code_samples = ["1 + )", "}"]

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"a" + "b"', "result": '"ab"'},
        {"code": "[1, 2]", "result": "[ 1, 2 ]"},
    ]

    code_display_data = [
        {"code": "display(html`<b>hello</b>`)", "mime": "text/html"},
        {"code": 'await Deno.jupyter.display({ "text/markdown": "**hi**" }, { raw: true })', "mime": "text/markdown"},
    ]

    # Must match exactly one of code_execute_result's sources (GLOB syntax, as IPython's history).
    code_history_pattern = "6 ? 7"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"

    code_clear_output = "clearOutput()"

    code_page_something = "Math.max?"


if __name__ == "__main__":
    unittest.main()
