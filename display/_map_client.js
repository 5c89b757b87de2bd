// The browser side of fused maps. This file is not imported: display/_map_assets.ts packs its
// text with MapLibre into every map output, and each output calls it as
// render(assets, element, config).
//
// Points are drawn by a small WebGL custom layer straight from typed arrays decoded from the
// embedded binary (24-bit quantised Web Mercator, gzip'd; map_data.ts writes it), with no
// per-feature objects: GeoJSON through MapLibre took 34.5 s for 1 M points here (display-perf
// §2.2), because every feature is serialised to the worker and tiled.
// Lines and polygons are read from WKB into a GeoJSON source (MapLibre draws them well and the
// counts are much smaller).
// deno-lint-ignore no-unused-vars
function fusedRenderMap(A, el, cfg) {
  "use strict";
  const maplibregl = A.maplibregl, Arrow = A.Arrow;
  const registry = (globalThis.__fusedMaps = globalThis.__fusedMaps || {});
  const state = (registry[cfg.id] = { loaded: false, error: null, started: performance.now() });

  // A message in the map itself, not only in the console: the user sees why it is empty.
  function notice(text) {
    const note = document.createElement("div");
    note.className = "fused-map-error";
    note.textContent = text;
    el.appendChild(note);
  }

  function fail(e) {
    state.error = String((e && e.message) || e);
    notice("Map error: " + state.error);
  }

  function mercX(lon) {
    return (lon + 180) / 360;
  }
  function mercY(lat) {
    const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
    return 0.5 - (0.25 * Math.log((1 + s) / (1 - s))) / Math.PI;
  }
  function lonOf(mx) {
    return mx * 360 - 180;
  }
  function latOf(my) {
    return (Math.atan(Math.sinh(Math.PI * (1 - 2 * my))) * 180) / Math.PI;
  }

  // ---- WKB (ISO and EWKB) to GeoJSON geometry ----
  function readWkb(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    function geom() {
      const le = dv.getUint8(pos) === 1;
      pos += 1;
      let t = dv.getUint32(pos, le);
      pos += 4;
      let dims = 2;
      if (t & 0x20000000) pos += 4; // EWKB SRID
      if (t & 0x80000000) dims++;
      if (t & 0x40000000) dims++;
      t = t & 0xffff;
      if (t >= 3000) {
        dims = 4;
        t -= 3000;
      } else if (t >= 2000) {
        dims = 3;
        t -= 2000;
      } else if (t >= 1000) {
        dims = 3;
        t -= 1000;
      }
      function pt() {
        const c = [dv.getFloat64(pos, le), dv.getFloat64(pos + 8, le)];
        pos += 8 * dims;
        return c;
      }
      function pts() {
        const n = dv.getUint32(pos, le);
        pos += 4;
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = pt();
        return a;
      }
      function rings() {
        const n = dv.getUint32(pos, le);
        pos += 4;
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = pts();
        return a;
      }
      function many() {
        const n = dv.getUint32(pos, le);
        pos += 4;
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = geom();
        return a;
      }
      switch (t) {
        case 1:
          return { type: "Point", coordinates: pt() };
        case 2:
          return { type: "LineString", coordinates: pts() };
        case 3:
          return { type: "Polygon", coordinates: rings() };
        case 4:
          return {
            type: "MultiPoint",
            coordinates: many().map(function (g) {
              return g.coordinates;
            }),
          };
        case 5:
          return {
            type: "MultiLineString",
            coordinates: many().map(function (g) {
              return g.coordinates;
            }),
          };
        case 6:
          return {
            type: "MultiPolygon",
            coordinates: many().map(function (g) {
              return g.coordinates;
            }),
          };
        case 7:
          return { type: "GeometryCollection", geometries: many() };
        default:
          throw new Error("unsupported WKB geometry type " + t);
      }
    }
    return geom();
  }

  function plain(v) {
    if (typeof v === "bigint") return Number(v);
    if (v instanceof Uint8Array) return "<" + v.byteLength + " bytes>";
    if (v !== null && typeof v === "object" && typeof v.toJSON === "function") return v.toJSON();
    return v;
  }

  function attributeNames(table) {
    return table.schema.fields.map(function (f) {
      return f.name;
    }).filter(function (n) {
      return n.indexOf("__") !== 0;
    });
  }

  function rowObject(table, names, i) {
    const o = {};
    for (let k = 0; k < names.length; k++) o[names[k]] = plain(table.getChild(names[k]).get(i));
    return o;
  }

  function popupContent(props) {
    const t = document.createElement("table");
    t.className = "fused-map-popup";
    Object.keys(props).forEach(function (k) {
      if (k.indexOf("__") === 0) return;
      const tr = document.createElement("tr"),
        th = document.createElement("th"),
        td = document.createElement("td");
      th.textContent = k;
      const v = props[k];
      td.textContent = v === null || v === undefined
        ? "null"
        : typeof v === "object"
        ? JSON.stringify(v)
        : String(v);
      tr.appendChild(th);
      tr.appendChild(td);
      t.appendChild(tr);
    });
    return t;
  }

  function hexRgba(hex) {
    return [
      parseInt(hex.slice(1, 3), 16),
      parseInt(hex.slice(3, 5), 16),
      parseInt(hex.slice(5, 7), 16),
      230,
    ];
  }

  // ---- the point layer: points rasterised in JavaScript, composited by WebGL ----
  // bytes: x (24 bits in 3 byte planes), y deltas (the same), one palette index per point.
  function pointLayer(spec, bytes, table) {
    const n = spec.count, box = spec.box;
    // Positions relative to the box's centre, in float32: keeps sub-metre precision at street
    // zoom (absolute float32 Mercator is off by metres from zoom 17 on).
    const cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
    const sx = (box[2] - box[0]) / 0xffffff, sy = (box[3] - box[1]) / 0xffffff;
    const ox = box[0] - cx, oy = box[1] - cy;
    const pos = new Float32Array(n * 2);
    let qy = 0;
    for (let i = 0; i < n; i++) {
      const qx = bytes[i] | (bytes[n + i] << 8) | (bytes[2 * n + i] << 16);
      qy += bytes[3 * n + i] | (bytes[4 * n + i] << 8) | (bytes[5 * n + i] << 16);
      pos[2 * i] = ox + qx * sx;
      pos[2 * i + 1] = oy + qy * sy;
    }
    const colors = bytes.subarray(6 * n, 7 * n);
    const palette = premultiplied(spec.palette.map(hexRgba));
    const names = table ? attributeNames(table) : [];
    function program(gl, vs, fs) {
      const p = gl.createProgram();
      [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]].forEach(function (s) {
        const shader = gl.createShader(s[0]);
        gl.shaderSource(shader, s[1]);
        gl.compileShader(shader);
        if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
          throw new Error(gl.getShaderInfoLog(shader));
        }
        gl.attachShader(p, shader);
      });
      gl.linkProgram(p);
      return p;
    }
    // The points are rasterised into an RGBA buffer of the canvas's size only when the view, the
    // canvas or the point size changed (prerender), uploaded into a texture, and every frame
    // composites that texture (render). In JavaScript, not as WebGL point sprites: software
    // WebGL (SwiftShader, on machines without a GPU) took seconds for one draw of 1 M points,
    // where this loop takes tens of milliseconds (README, design notes). The buffer holds
    // premultiplied colour, so compositing it with the same blending gives the pixels of
    // drawing the points directly.
    // While the map moves (drag, zoom, fly), frames show the last raster warped to the new view,
    // and the points are rasterised again when it stops: a raster per frame would make a pan
    // over 1 M points a few frames a second. "moveend" asks for that frame: a drag that stops
    // without inertia may draw its last frame while still moving.
    let quad, quadBuf, aXy, uTex, uWarp, tex, pixels = null, drawn = null, shown = null;
    let map = null;
    function repaint() {
      map.triggerRepaint();
    }
    function viewKey(gl, args) {
      const m = args.defaultProjectionData.mainMatrix, t = new Float32Array(16);
      // main × translate(cx, cy): the centre offset is folded in here, in float64.
      for (let k = 0; k < 16; k++) t[k] = m[k];
      for (let r = 0; r < 4; r++) t[12 + r] = m[r] * cx + m[4 + r] * cy + m[12 + r];
      const size = cfg.pointRadius * 2 * (globalThis.devicePixelRatio || 1);
      return { t, size, w: gl.drawingBufferWidth, h: gl.drawingBufferHeight };
    }
    function sameView(a, b) {
      return !!a && a.size === b.size && a.w === b.w && a.h === b.h && sameMatrix(a.t, b.t);
    }
    const layer = {
      id: "fused-points",
      type: "custom",
      renderingMode: "2d",
      onAdd: function (m, gl) {
        map = m;
        map.on("moveend", repaint);
        quad = program(
          gl,
          "attribute vec2 a_xy; uniform mat3 u_warp; varying vec2 v_uv;" +
            "void main(){ v_uv = a_xy * 0.5 + 0.5; vec3 p = u_warp * vec3(a_xy, 1.0); gl_Position = vec4(p.xy, 0.0, p.z); }",
          "precision mediump float; uniform sampler2D u_tex; varying vec2 v_uv; void main(){ gl_FragColor = texture2D(u_tex, v_uv); }",
        );
        aXy = gl.getAttribLocation(quad, "a_xy");
        uTex = gl.getUniformLocation(quad, "u_tex");
        uWarp = gl.getUniformLocation(quad, "u_warp");
        quadBuf = gl.createBuffer();
        gl.bindBuffer(gl.ARRAY_BUFFER, quadBuf);
        gl.bufferData(
          gl.ARRAY_BUFFER,
          new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]),
          gl.STATIC_DRAW,
        );
        tex = gl.createTexture();
      },
      onRemove: function (_map, gl) {
        map.off("moveend", repaint);
        gl.deleteBuffer(quadBuf);
        gl.deleteProgram(quad);
        gl.deleteTexture(tex);
        pixels = null;
      },
      prerender: function (gl, args) {
        const view = (shown = viewKey(gl, args));
        if (sameView(drawn, view) || (drawn && map.isMoving())) return;
        if (!pixels || pixels.length !== view.w * view.h * 4) {
          pixels = new Uint8Array(view.w * view.h * 4);
        } else pixels.fill(0);
        rasterPoints(pixels, view, pos, colors, palette);
        gl.bindTexture(gl.TEXTURE_2D, tex);
        // MapLibre sets these for its own uploads; rows here are bottom-up, premultiplied.
        const keep = [
          gl.UNPACK_ALIGNMENT,
          gl.UNPACK_FLIP_Y_WEBGL,
          gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL,
        ]
          .map(function (p) {
            return [p, gl.getParameter(p)];
          });
        gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
        gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
        gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
        gl.texImage2D(
          gl.TEXTURE_2D,
          0,
          gl.RGBA,
          view.w,
          view.h,
          0,
          gl.RGBA,
          gl.UNSIGNED_BYTE,
          pixels,
        );
        keep.forEach(function (k) {
          gl.pixelStorei(k[0], k[1]);
        });
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
        drawn = view;
      },
      render: function (gl) {
        gl.useProgram(quad);
        gl.activeTexture(gl.TEXTURE0);
        gl.bindTexture(gl.TEXTURE_2D, tex);
        gl.uniform1i(uTex, 0);
        gl.uniformMatrix3fv(uWarp, false, warp(drawn, shown));
        gl.bindBuffer(gl.ARRAY_BUFFER, quadBuf);
        gl.enableVertexAttribArray(aXy);
        gl.vertexAttribPointer(aXy, 2, gl.FLOAT, false, 0, 0);
        gl.enable(gl.BLEND);
        gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
        gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
        gl.disableVertexAttribArray(aXy);
      },
    };
    // Picking: the nearest point within a few pixels of the click, by one linear scan.
    function pick(lngLat, zoom) {
      const mx = mercX(lngLat.lng) - cx, my = mercY(lngLat.lat) - cy;
      const tol = (cfg.pointRadius + 3) / (512 * Math.pow(2, zoom));
      let best = -1, bestD = tol * tol;
      for (let i = 0; i < n; i++) {
        const dx = pos[2 * i] - mx, dy = pos[2 * i + 1] - my, d = dx * dx + dy * dy;
        if (d <= bestD) {
          bestD = d;
          best = i;
        }
      }
      if (best < 0) return null;
      const props = table ? rowObject(table, names, best) : {};
      props.lon = +lonOf(pos[2 * best] + cx).toFixed(6);
      props.lat = +latOf(pos[2 * best + 1] + cy).toFixed(6);
      if (spec.popupNote) props.note = spec.popupNote;
      return props;
    }
    return { layer: layer, pick: pick, count: n };
  }

  function shapeFeatures(table) {
    const wkb = table.getChild("__wkb"),
      color = table.getChild("__color"),
      names = attributeNames(table);
    const features = [];
    for (let i = 0; i < table.numRows; i++) {
      const b = wkb.get(i);
      if (!b) continue;
      const p = rowObject(table, names, i);
      p.__color = color.get(i);
      features.push({ type: "Feature", geometry: readWkb(b), properties: p });
    }
    return { type: "FeatureCollection", features: features };
  }

  function baseStyle() {
    if (cfg.basemap && typeof cfg.basemap === "object") return cfg.basemap;
    if (typeof cfg.basemap === "string" && cfg.basemap !== "offline" && cfg.basemap !== "none") {
      return cfg.basemap;
    }
    const style = { version: 8, sources: {}, layers: [] };
    if (cfg.basemap === "none") {
      style.layers.push({
        id: "fused-bg",
        type: "background",
        paint: { "background-color": "#ffffff" },
      });
      return style;
    }
    style.sources.land = { type: "geojson", data: A.basemap.land };
    style.sources.borders = { type: "geojson", data: A.basemap.borders };
    style.layers.push({
      id: "fused-bg",
      type: "background",
      paint: { "background-color": "#d4e3ef" },
    });
    style.layers.push({
      id: "fused-land",
      type: "fill",
      source: "land",
      paint: { "fill-color": "#f4f2ee" },
    });
    style.layers.push({
      id: "fused-borders",
      type: "line",
      source: "borders",
      paint: { "line-color": "#b9b4ab", "line-width": 0.6 },
    });
    return style;
  }

  const container = el.querySelector(".fused-map-canvas");
  let map;
  try {
    map = new maplibregl.Map({
      container: container,
      style: baseStyle(),
      bounds: cfg.bounds,
      fitBoundsOptions: { padding: 30, maxZoom: 15 },
      attributionControl: false,
      canvasContextAttributes: { preserveDrawingBuffer: !!cfg.preserveDrawingBuffer },
    });
  } catch (e) {
    fail(e);
    return state;
  }
  state.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  let tileNoticeShown = false;
  map.on("error", function (e) {
    state.lastError = String((e.error && e.error.message) || e.error || e);
    if (e.sourceId !== "fused-tiles" || tileNoticeShown) return;
    tileNoticeShown = true;
    state.tileError = state.lastError;
    // Ask the service once more for the tile, to show its own explanation ({detail}).
    const url = e.tile && e.tile.tileID && cfg.tiles
      ? cfg.tiles.url.replace("{z}", e.tile.tileID.canonical.z).replace(
        "{x}",
        e.tile.tileID.canonical.x,
      ).replace("{y}", e.tile.tileID.canonical.y)
      : null;
    const show = function (why) {
      state.tileError = why;
      notice("The tile layer cannot be drawn: " + why);
    };
    if (!url) return show(state.lastError);
    fetch(url).then(function (r) {
      if (r.ok) return show(state.lastError);
      return r.text().then(function (t) {
        let detail = t;
        try {
          detail = JSON.parse(t).detail || t;
        } catch (_) { /* not JSON */ }
        show("the tile server answered " + r.status + ": " + detail);
      });
    }, function () {
      // A failed fetch does not say why. An opaque (no-cors) request to the same URL does:
      // it succeeds whenever a server answers at all, so only a server that answers makes
      // the failure one of CORS.
      const origin = new URL(url, location.href).origin;
      fetch(url, { mode: "no-cors" }).then(function () {
        show(
          "the tile server at " + origin +
            " answers, but does not allow this page to load its tiles (CORS)",
        );
      }, function () {
        show(
          "the service at " + origin + " is not running (or this browser cannot reach it)" +
            "; start it again (in a notebook: %fused serve) and re-run the map's cell",
        );
      });
    });
  });

  // Decoding (gunzip) runs while MapLibre loads its style. The layers go in once the style is
  // loaded ("style.load"), not at "load": that waits for every basemap tile to be drawn, and
  // adding the points only then put their upload and draw after the basemap's frames instead of
  // alongside them.
  const decoded = Promise.all([
    cfg.points ? A.unpack(cfg.points.data) : null,
    cfg.points && cfg.points.attributes ? A.unpack(cfg.points.attributes) : null,
    cfg.shapes ? A.unpack(cfg.shapes) : null,
  ]);
  const styled = new Promise(function (ok) {
    map.once("style.load", ok);
  });
  Promise.all([decoded, styled]).then(function (r) {
    const points = r[0][0], attributes = r[0][1], shapes = r[0][2];
    try {
      const popup = new maplibregl.Popup({ closeButton: true, maxWidth: "360px" });
      if (cfg.tiles) {
        const tl = cfg.tiles;
        if (tl.type === "vector") {
          map.addSource("fused-tiles", {
            type: "vector",
            tiles: [tl.url],
            minzoom: tl.minzoom,
            maxzoom: tl.maxzoom,
          });
          const sl = tl.sourceLayer;
          map.addLayer({
            id: "fused-tiles-fill",
            type: "fill",
            source: "fused-tiles",
            "source-layer": sl,
            filter: ["==", ["geometry-type"], "Polygon"],
            paint: { "fill-color": cfg.defaultColor, "fill-opacity": 0.5 },
          });
          map.addLayer({
            id: "fused-tiles-line",
            type: "line",
            source: "fused-tiles",
            "source-layer": sl,
            filter: ["!=", ["geometry-type"], "Point"],
            paint: { "line-color": cfg.defaultColor, "line-width": 1 },
          });
          map.addLayer({
            id: "fused-tiles-point",
            type: "circle",
            source: "fused-tiles",
            "source-layer": sl,
            filter: ["==", ["geometry-type"], "Point"],
            paint: { "circle-color": cfg.defaultColor, "circle-radius": cfg.pointRadius },
          });
          ["fused-tiles-fill", "fused-tiles-line", "fused-tiles-point"].forEach(function (id) {
            map.on("click", id, function (e) {
              popup.setLngLat(e.lngLat).setDOMContent(popupContent(e.features[0].properties)).addTo(
                map,
              );
            });
          });
        } else {
          map.addSource("fused-tiles", {
            type: "raster",
            tiles: [tl.url],
            tileSize: tl.tileSize,
            minzoom: tl.minzoom,
            maxzoom: tl.maxzoom,
          });
          map.addLayer({
            id: "fused-tiles",
            type: "raster",
            source: "fused-tiles",
            paint: { "raster-opacity": tl.opacity },
          });
        }
      }
      if (shapes) {
        const fc = shapeFeatures(Arrow.tableFromIPC(new Uint8Array(shapes)));
        state.shapeCount = fc.features.length;
        map.addSource("fused-shapes", { type: "geojson", data: fc });
        const poly = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false];
        map.addLayer({
          id: "fused-fill",
          type: "fill",
          source: "fused-shapes",
          filter: poly,
          paint: { "fill-color": ["get", "__color"], "fill-opacity": 0.6 },
        });
        map.addLayer({
          id: "fused-line",
          type: "line",
          source: "fused-shapes",
          filter: ["!=", ["geometry-type"], "Point"],
          paint: {
            "line-color": ["case", poly, "#333333", ["get", "__color"]],
            "line-width": ["case", poly, 0.6, 2],
          },
        });
        map.addLayer({
          id: "fused-shape-points",
          type: "circle",
          source: "fused-shapes",
          filter: ["==", ["geometry-type"], "Point"],
          paint: { "circle-color": ["get", "__color"], "circle-radius": cfg.pointRadius },
        });
        ["fused-fill", "fused-line", "fused-shape-points"].forEach(function (id) {
          map.on("mouseenter", id, function () {
            map.getCanvas().style.cursor = "pointer";
          });
          map.on("mouseleave", id, function () {
            map.getCanvas().style.cursor = "";
          });
        });
      }
      let pts = null;
      if (points) {
        pts = pointLayer(
          cfg.points,
          new Uint8Array(points),
          attributes ? Arrow.tableFromIPC(new Uint8Array(attributes)) : null,
        );
        state.pointCount = pts.count;
        map.addLayer(pts.layer);
      }
      // One click handler: points are drawn on top, so they win over the shapes under them.
      map.on("click", function (e) {
        let props = pts ? pts.pick(e.lngLat, map.getZoom()) : null;
        if (!props && cfg.shapes) {
          const hit = map.queryRenderedFeatures(e.point, {
            layers: ["fused-shape-points", "fused-line", "fused-fill"],
          });
          if (hit.length) props = hit[0].properties;
        }
        if (props) popup.setLngLat(e.lngLat).setDOMContent(popupContent(props)).addTo(map);
      });
      map.once("idle", function () {
        state.loaded = true;
        state.idleMs = performance.now() - state.started;
        state.idleSinceNavigation = performance.now();
        el.setAttribute("data-loaded", "true");
        const fallback = el.querySelector(".fused-map-static");
        if (fallback) fallback.style.display = "none";
      });
    } catch (e) {
      fail(e);
    }
  }, fail);
  return state;
}

// The map from clip space of the view `from` to that of the view `to` on the map's plane
// (z = 0), as a column-major 3×3 matrix on (x, y, 1): the homography of each view is its
// matrix's rows and columns x, y and w; the result is to × from⁻¹.
function warp(from, to) {
  if (sameMatrix(from.t, to.t)) return new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const a = from.t, b = to.t;
  // Row-major homographies.
  const f = [a[0], a[4], a[12], a[1], a[5], a[13], a[3], a[7], a[15]];
  const g = [b[0], b[4], b[12], b[1], b[5], b[13], b[3], b[7], b[15]];
  // The adjugate of f: its inverse × its determinant.
  const inv = [
    f[4] * f[8] - f[5] * f[7],
    f[2] * f[7] - f[1] * f[8],
    f[1] * f[5] - f[2] * f[4],
    f[5] * f[6] - f[3] * f[8],
    f[0] * f[8] - f[2] * f[6],
    f[2] * f[3] - f[0] * f[5],
    f[3] * f[7] - f[4] * f[6],
    f[1] * f[6] - f[0] * f[7],
    f[0] * f[4] - f[1] * f[3],
  ];
  const det = f[0] * inv[0] + f[1] * inv[3] + f[2] * inv[6];
  const out = new Float32Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let k = 0; k < 3; k++) v += g[3 * r + k] * inv[3 * k + c];
      out[3 * c + r] = v / det; // column-major
    }
  }
  return out;
}

function sameMatrix(a, b) {
  for (let k = 0; k < 16; k++) if (a[k] !== b[k]) return false;
  return true;
}

// Each palette colour as the point shader drew it, premultiplied, in 0–255 units: the inside
// [r, g, b] then the darker rim [r, g, b] (the colour × 0.55), and the alpha. Every point has
// the same alpha.
function premultiplied(rgbas) {
  const out = new Float64Array(256 * 6);
  const alpha = rgbas.length ? rgbas[0][3] : 255;
  for (let i = 0; i < 256; i++) {
    const c = rgbas[i] || rgbas[0];
    for (let k = 0; k < 3; k++) {
      out[6 * i + k] = (c[k] * alpha) / 255;
      out[6 * i + 3 + k] = (c[k] * 0.55 * alpha) / 255;
    }
  }
  return { rgb: out, alpha: alpha };
}

// Draws points into `out` (RGBA bytes, bottom row first, premultiplied) as WebGL draws
// `gl_POINTS` of `view.size` pixels in input order with a disc shader and premultiplied
// "over" blending (display/_map_client_test.ts compares the two); which pixels and colours a
// point gives is discMasks' rule. view: { t (4×4 column-major, model to clip), size, w, h };
// pos: x, y pairs; colors: a palette index per point; palette: from premultiplied().
function rasterPoints(out, view, pos, colors, palette) {
  const t = view.t, w = view.w, h = view.h;
  const m0 = t[0], m1 = t[1], m3 = t[3], m4 = t[4], m5 = t[5], m7 = t[7];
  const m12 = t[12], m13 = t[13], m15 = t[15];
  // Window position in 1/16 pixels: WebGL's rasteriser snaps there (SwiftShader; 4 bits is also
  // Vulkan's least subPixelPrecisionBits).
  const hw = w * 8, hh = h * 8, rgb = palette.rgb, a = palette.alpha, keep = 1 - a / 255;
  const masks = discMasks(view.size), reach = Math.ceil(view.size / 2) + 1;
  const lo = -16 * reach, hiX = 16 * (w + reach), hiY = 16 * (h + reach);
  for (let i = 0, n = colors.length; i < n; i++) {
    const x = pos[2 * i], y = pos[2 * i + 1];
    const cw = m3 * x + m7 * y + m15;
    const qx = Math.round(((m0 * x + m4 * y + m12) / cw + 1) * hw);
    const qy = Math.round(((m1 * x + m5 * y + m13) / cw + 1) * hh);
    if (!(qx > lo && qx < hiX && qy > lo && qy < hiY)) continue; // off the canvas (or NaN)
    const ix = qx >> 4, iy = qy >> 4, mask = masks[((qy & 15) << 4) | (qx & 15)];
    const whole = ix >= reach && ix < w - reach && iy >= reach && iy < h - reach;
    const c = 6 * colors[i];
    for (let e = 0; e < mask.length; e += 3) {
      const px = ix + mask[e], py = iy + mask[e + 1];
      if (!whole && (px < 0 || px >= w || py < 0 || py >= h)) continue;
      const o = (py * w + px) * 4, at = c + mask[e + 2];
      out[o] = rgb[at] + out[o] * keep + 0.5;
      out[o + 1] = rgb[at + 1] + out[o + 1] * keep + 0.5;
      out[o + 2] = rgb[at + 2] + out[o + 2] * keep + 0.5;
      out[o + 3] = a + out[o + 3] * keep + 0.5;
    }
  }
}

// The pixels a point of `size` pixels covers, for each place of its centre inside its pixel
// (16 × 16 steps, index row × 16 + column): [column, row, 0 inside or 3 on the rim] per pixel,
// relative to the centre's pixel. A pixel is covered when its centre is in [p − size/2,
// p + size/2) and r = |c|² ≤ 1, c the pixel centre in −1…1 across the square; r > 0.55 is rim.
function discMasks(size) {
  const half = size / 2, inv = 2 / size, masks = [];
  for (let sy = 0; sy < 16; sy++) {
    for (let sx = 0; sx < 16; sx++) {
      const px = sx / 16, py = sy / 16, cells = [];
      for (let k = Math.ceil(py - half - 0.5); k <= Math.ceil(py + half - 0.5) - 1; k++) {
        for (let j = Math.ceil(px - half - 0.5); j <= Math.ceil(px + half - 0.5) - 1; j++) {
          const dx = (j + 0.5 - px) * inv, dy = (k + 0.5 - py) * inv, r = dx * dx + dy * dy;
          if (r <= 1) cells.push(j, k, r > 0.55 ? 3 : 0);
        }
      }
      masks.push(Int32Array.from(cells));
    }
  }
  return masks;
}
