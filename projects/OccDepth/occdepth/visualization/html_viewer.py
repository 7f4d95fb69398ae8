"""A self-contained interactive HTML page of voxel grids.

One file holds everything: the exposed voxel faces of each grid as JSON and
a small WebGL viewer (no library, no network at view time). Drag to orbit,
wheel to zoom; the legend's check boxes hide or show classes and the radio
buttons switch between the grids (e.g. prediction and ground truth).

Each face is five integers ``i, j, k, direction, label``: the voxel index,
``direction = 2 * axis + (0 if the normal is +axis else 1)`` and the class.
The viewer builds the quad exactly as :func:`~.voxel_surface.surface_quads`
does. Top faces keep the palette colour exactly (as in
:func:`~.voxel_render.render_voxels`), other faces are shaded.
"""
import html
import json
import os
from typing import Dict, Sequence

import numpy as np

from projects.OccDepth.occdepth.datasets.label_maps import IGNORE_INDEX
from projects.OccDepth.occdepth.visualization.voxel_surface import (
    Vec3, as_label_grid, drawn_voxels, palette_array, surface_quads, vec3)


def face_records(grid: np.ndarray,
                 palette: Sequence[Sequence[int]],
                 ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """The exposed faces of a grid as ``(F, 5)`` int rows
    ``i, j, k, direction, label`` (order of :func:`surface_quads`)."""
    grid = as_label_grid(grid)
    occ = drawn_voxels(grid, palette_array(palette), ignore_index)
    corners, labels, normals = surface_quads(grid, occ)
    axis = np.argmax(np.abs(normals), axis=1)
    sign = normals[np.arange(len(normals)), axis]
    # the voxel: the minimum corner, minus one along +axis faces' normal
    voxel = corners.min(axis=1).astype(np.int64)
    voxel[np.arange(len(voxel)), axis] -= (sign > 0)
    direction = 2 * axis + (sign < 0)
    return np.concatenate(
        [voxel, direction[:, None], labels[:, None].astype(np.int64)], axis=1)


def page_data(grids: Dict[str, np.ndarray],
              classes: Sequence[str],
              palette: Sequence[Sequence[int]],
              voxel_size: Vec3 = 1.0,
              origin: Vec3 = 0.0,
              up_axis: int = 2,
              up_sign: int = 1,
              title: str = 'Voxel grid',
              ignore_index: int = IGNORE_INDEX) -> dict:
    """The JSON object the page inlines (see :func:`write_html`)."""
    if not grids:
        raise ValueError('write_html: give at least one grid')
    if len(classes) != len(palette):
        raise ValueError(f'{len(classes)} class names for {len(palette)} '
                         'palette colours')
    shapes = {as_label_grid(g, name).shape for name, g in grids.items()}
    if len(shapes) != 1:
        raise ValueError(f'grids of different shapes {sorted(shapes)}')
    if up_axis not in (0, 1, 2) or up_sign not in (1, -1):
        raise ValueError(f'up_axis must be 0..2 and up_sign +-1, got '
                         f'{up_axis}, {up_sign}')
    pal = palette_array(palette).astype(int)
    faces = {
        name: face_records(grid, palette, ignore_index)
        for name, grid in grids.items()
    }
    present = sorted({int(v) for f in faces.values() for v in f[:, 4]})
    return dict(
        title=title,
        gridSize=list(shapes.pop()),
        voxelSize=vec3(voxel_size).tolist(),
        origin=vec3(origin).tolist(),
        upAxis=int(up_axis),
        upSign=int(up_sign),
        classes=[
            dict(id=c, name=str(classes[c]), color=pal[c].tolist())
            for c in present
        ],
        grids=[
            dict(name=name, faces=f.reshape(-1).tolist())
            for name, f in faces.items()
        ])


def write_html(path: str, grids: Dict[str, np.ndarray], classes: Sequence[str],
               palette: Sequence[Sequence[int]], **kwargs) -> int:
    """Write the interactive page of one or more grids of the same shape.

    Args:
        path: Output ``.html`` file; its folder must exist.
        grids: Name (shown on the switch) -> ``(X, Y, Z)`` labels.
        classes: Class name per label.
        palette: RGB colour per label.
        **kwargs: ``voxel_size``, ``origin``, ``up_axis``, ``up_sign``,
            ``title``, ``ignore_index`` of :func:`page_data`.

    Returns:
        Number of faces over all grids.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'write_html: folder {folder} of {path} does '
                                'not exist')
    data = page_data(grids, classes, palette, **kwargs)
    # '</' cannot close the script element inside the JSON
    payload = json.dumps(data, separators=(',', ':')).replace('</', '<\\/')
    page = _PAGE.replace('@TITLE@', html.escape(data['title']))
    page = page.replace('@DATA@', payload)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(page)
    return sum(len(g['faces']) // 5 for g in data['grids'])


def read_page_data(path: str) -> dict:
    """The JSON object inlined in a page written by :func:`write_html`."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    start = text.index(_DATA_OPEN) + len(_DATA_OPEN)
    end = text.index('</script>', start)
    return json.loads(text[start:end])


_DATA_OPEN = '<script id="voxel-data" type="application/json">'

_PAGE = '''<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>@TITLE@</title>
<style>
html, body { margin: 0; height: 100%; overflow: hidden;
  font: 13px sans-serif; background: #fff; }
#view { position: absolute; inset: 0; width: 100%; height: 100%;
  cursor: grab; }
#panel { position: absolute; top: 8px; left: 8px; padding: 6px 8px;
  background: rgba(255, 255, 255, 0.85); border: 1px solid #ccc;
  max-height: 90%; overflow-y: auto; }
#panel label { display: block; white-space: nowrap; }
.swatch { display: inline-block; width: 12px; height: 12px;
  margin: 0 4px -2px 2px; border: 1px solid #666; }
#error { color: #b00; }
</style></head>
<body data-status="loading">
<canvas id="view"></canvas>
<div id="panel"><b id="title"></b>
<div id="grids"></div><hr><div id="legend"></div>
<div id="error"></div></div>
''' + _DATA_OPEN + '''@DATA@</script>
<script>
"use strict";
(function () {
  const body = document.body;
  function fail(msg) {
    body.dataset.status = 'error: ' + msg;
    document.getElementById('error').textContent = msg;
  }
  window.addEventListener('error', function (e) { fail(e.message); });
  const data = JSON.parse(document.getElementById('voxel-data').textContent);
  document.getElementById('title').textContent = data.title;
  const canvas = document.getElementById('view');
  const gl = canvas.getContext(
    'webgl', {antialias: false, preserveDrawingBuffer: true});
  if (!gl) { fail('WebGL is not available in this browser'); return; }

  const vs = 'attribute vec3 p; attribute float s; uniform mat4 m;' +
    'varying float v; void main() { v = s; gl_Position = m * vec4(p, 1.0); }';
  const fs = 'precision highp float; uniform vec3 c; varying float v;' +
    'void main() { gl_FragColor = vec4(c * v / 255.0, 1.0); }';
  function shader(type, src) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS))
      throw new Error(gl.getShaderInfoLog(sh));
    return sh;
  }
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, vs));
  gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, fs));
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS))
    throw new Error(gl.getProgramInfoLog(prog));
  gl.useProgram(prog);
  const locP = gl.getAttribLocation(prog, 'p');
  const locS = gl.getAttribLocation(prog, 's');
  const locM = gl.getUniformLocation(prog, 'm');
  const locC = gl.getUniformLocation(prog, 'c');

  const up = data.upAxis, size = data.voxelSize, org = data.origin;
  // shade per direction 2 * axis + (0: +axis, 1: -axis): the top keeps its
  // colour, the bottom is dark, the sides in between
  const shade = [0.8, 0.7, 0.8, 0.7, 0.8, 0.7];
  shade[2 * up + (data.upSign > 0 ? 0 : 1)] = 1.0;
  shade[2 * up + (data.upSign > 0 ? 1 : 0)] = 0.45;

  // per grid, per class: one vertex buffer of triangles
  const meshes = data.grids.map(function (g) {
    const byClass = {};
    const f = g.faces;
    for (let n = 0; n < f.length; n += 5) {
      const lab = f[n + 4];
      (byClass[lab] = byClass[lab] || []).push(n);
    }
    const out = {};
    for (const lab in byClass) {
      const list = byClass[lab];
      const buf = new Float32Array(list.length * 6 * 4);
      let w = 0;
      for (const n of list) {
        const d = f[n + 3], axis = d >> 1, plus = (d & 1) === 0;
        const a1 = (axis + 1) % 3, a2 = (axis + 2) % 3;
        const base = [f[n], f[n + 1], f[n + 2]];
        if (plus) base[axis] += 1;
        const e1 = [0, 0, 0], e2 = [0, 0, 0];
        e1[a1] = 1; e2[a2] = 1;
        const q = plus ? [[0, 0], [1, 0], [1, 1], [0, 1]]
                       : [[0, 0], [0, 1], [1, 1], [1, 0]];
        for (const c of [0, 1, 2, 0, 2, 3]) {
          for (let k = 0; k < 3; k++)
            buf[w++] = org[k] + (base[k] + q[c][0] * e1[k] +
                                 q[c][1] * e2[k]) * size[k];
          buf[w++] = shade[d];
        }
      }
      const vbo = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, vbo);
      gl.bufferData(gl.ARRAY_BUFFER, buf, gl.STATIC_DRAW);
      out[lab] = {vbo: vbo, count: list.length * 6};
    }
    return out;
  });

  // controls: grid switch and class toggles
  let current = 0;
  const hidden = {};
  const gridsDiv = document.getElementById('grids');
  data.grids.forEach(function (g, i) {
    const l = document.createElement('label');
    const r = document.createElement('input');
    r.type = 'radio'; r.name = 'grid'; r.checked = i === 0;
    r.addEventListener('change', function () { current = i; draw(); });
    l.appendChild(r);
    l.appendChild(document.createTextNode(' ' + g.name));
    gridsDiv.appendChild(l);
  });
  const legend = document.getElementById('legend');
  data.classes.forEach(function (c) {
    const l = document.createElement('label');
    const b = document.createElement('input');
    b.type = 'checkbox'; b.checked = true;
    b.addEventListener('change', function () {
      hidden[c.id] = !b.checked; draw();
    });
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = 'rgb(' + c.color.join(',') + ')';
    l.appendChild(b); l.appendChild(sw);
    l.appendChild(document.createTextNode(c.name));
    legend.appendChild(l);
  });

  // orbit camera around the grid centre
  const centre = [0, 1, 2].map(function (k) {
    return org[k] + data.gridSize[k] * size[k] / 2;
  });
  const radius = Math.hypot.apply(null, [0, 1, 2].map(function (k) {
    return data.gridSize[k] * size[k] / 2;
  }));
  let azimuth = -2.6, elevation = 0.7, distance = 2.6 * radius;
  function sub(a, b) { return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]; }
  function dot(a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
  function cross(a, b) {
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0]];
  }
  function norm(a) {
    const n = Math.hypot(a[0], a[1], a[2]);
    return [a[0] / n, a[1] / n, a[2] / n];
  }
  function matrix(aspect) {
    // viewer direction in (h1, h2, up) coordinates, mapped to grid axes
    const h1 = (up + 1) % 3, h2 = (up + 2) % 3;
    const dir = [0, 0, 0];
    dir[h1] = Math.cos(elevation) * Math.cos(azimuth);
    dir[h2] = Math.cos(elevation) * Math.sin(azimuth);
    dir[up] = Math.sin(elevation) * data.upSign;
    const upv = [0, 0, 0];
    upv[up] = data.upSign;
    const eye = [0, 1, 2].map(function (k) {
      return centre[k] + distance * dir[k];
    });
    const z = norm(sub(eye, centre));
    const x = norm(cross(upv, z));
    const y = cross(z, x);
    const near = Math.max(distance - radius * 1.5, distance * 0.01);
    const far = distance + radius * 1.5;
    const f = 1 / Math.tan(0.35);
    const a = (far + near) / (near - far), b = 2 * far * near / (near - far);
    // column-major projection * view
    const v = [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0,
               -dot(x, eye), -dot(y, eye), -dot(z, eye), 1];
    const p = [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, a, -1, 0, 0, b, 0];
    const m = new Float32Array(16);
    for (let c = 0; c < 4; c++)
      for (let r = 0; r < 4; r++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += p[k * 4 + r] * v[c * 4 + k];
        m[c * 4 + r] = s;
      }
    return m;
  }

  function draw() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w; canvas.height = h;
    }
    gl.viewport(0, 0, w, h);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.uniformMatrix4fv(locM, false, matrix(w / Math.max(h, 1)));
    let faces = 0;
    const mesh = meshes[current];
    data.classes.forEach(function (c) {
      const part = mesh[c.id];
      if (!part || hidden[c.id]) return;
      gl.uniform3fv(locC, c.color);
      gl.bindBuffer(gl.ARRAY_BUFFER, part.vbo);
      gl.enableVertexAttribArray(locP);
      gl.vertexAttribPointer(locP, 3, gl.FLOAT, false, 16, 0);
      gl.enableVertexAttribArray(locS);
      gl.vertexAttribPointer(locS, 1, gl.FLOAT, false, 16, 12);
      gl.drawArrays(gl.TRIANGLES, 0, part.count);
      faces += part.count / 6;
    });
    const err = gl.getError();
    if (err !== gl.NO_ERROR) { fail('WebGL error ' + err); return; }
    body.dataset.status = 'drawn ' + faces + ' faces of ' +
      data.grids[current].name;
  }

  let drag = null;
  canvas.addEventListener('mousedown', function (e) {
    drag = [e.clientX, e.clientY];
  });
  window.addEventListener('mouseup', function () { drag = null; });
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    azimuth -= (e.clientX - drag[0]) * 0.01;
    elevation += (e.clientY - drag[1]) * 0.01;
    elevation = Math.max(-1.5, Math.min(1.5, elevation));
    drag = [e.clientX, e.clientY];
    draw();
  });
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    distance *= Math.exp(e.deltaY * 0.001);
    distance = Math.max(radius * 0.2, Math.min(radius * 20, distance));
    draw();
  }, {passive: false});
  window.addEventListener('resize', draw);
  draw();
})();
</script></body></html>
'''
