"""The interactive deviation scatter of a teacher/student pair, for a report's HTML page (not a report:
this module registers nothing).

Every sample of the pair (train and test; kdlab.analysis.per_sample_frame) is a mark at (X, Y), drawn
by a small inline script into an inline <svg>: no library, no request. Hovering a mark shows the
sample: its index, split, labels, noise, both models' predictions and probabilities, and its input.
Clicking a dissection group in the legend shows that group alone; clicking it again, or "all", shows
every group. Above MAX_POINTS samples a pair shows a seeded random subset and says so.

Inputs come from the run's dataset, loaded from its stored config when it is registered:
- images: thumbnails (at most THUMBNAIL_SIDE pixels a side) as one base64 uint8 array per dataset,
  shared by every pair on that data and drawn to a small canvas on hover. Above THUMBNAIL_BYTES a
  seeded subset of the samples keeps one, and the tooltip of the others says so;
- text: decoded with the data's saved tokenizer (`tokenizer: DIR`). A dataset whose tokenizer was
  trained on the fly keeps neither its texts nor that tokenizer, only token ids: the tooltip shows
  the first ids and says so.
Where the input cannot be shown (data given as an object, data that does not load here, inputs that
are neither images nor text), the tooltip says why.

    store = InputStore()
    block_html = scatter_html(frame, store, data_cfg, title="student against teacher")
    page_end = [*store.assets(), SCATTER_ASSET]   # once per page, after every scatter
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

import numpy as np

from ..analysis.summary import DISSECTION
from ..data import load_dataset_for
from ..plotting import PALETTE
from ..records.predictions import SPLITS

MAX_POINTS = 5000  # marks per pair; above, a seeded random subset (an SVG stays responsive below this)
THUMBNAIL_SIDE = 32  # larger images are average-pooled down to this
THUMBNAIL_BYTES = 4_000_000  # raw pixels kept per dataset
TEXT_CHARS = 400  # of a decoded text shown in a tooltip
TOKEN_IDS = 40  # of an undecodable text
GROUPS = DISSECTION  # who is right, by the analysis's label
GROUP_COLOURS = dict(zip(GROUPS, (PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[3])))  # blue, green, orange, vermillion


def _json_for_script(obj: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' that could end the element."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _data_key(data_cfg) -> str:
    return json.dumps(data_cfg.model_dump(mode="json"), sort_keys=True)


def thinned(frame, max_points: int = MAX_POINTS, seed: int = 0):
    """The rows the scatter draws: all, or a seeded random subset of `max_points` (in the frame's order)."""
    if len(frame) <= max_points:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_points, replace=False))
    return frame.iloc[keep]


class _Inputs:
    """One dataset's inputs, as the tooltips show them: (split, sample index) -> thumbnail or text."""

    def __init__(self, data_cfg):
        self.note = ""  # why inputs are not shown, or what the tooltip shows instead
        self.kind = "none"
        self.wanted: set[tuple[str, int]] = set()
        self.dataset = None
        if data_cfg.object is not None:
            self.note = "input not shown: the dataset was given as an object, which the report cannot load"
            return
        try:
            ds = load_dataset_for(data_cfg)
        except Exception as e:  # noqa: BLE001 - inputs are a preview: whatever a loader raises, the page says so
            self.note = f"input not shown: the dataset '{data_cfg.name}' does not load here ({' '.join(str(e).split())[:200]})"
            return
        x = ds.train.inputs
        if "attention_mask" in ds.train.fields or (x.dim() == 2 and not x.is_floating_point()):
            self.kind = "text"
            self.decode = self._decoder(data_cfg)
        elif x.dim() == 4 and x.shape[1] in (1, 3):
            self.kind = "image"
        else:
            self.note = f"input not shown: each input is a {'×'.join(map(str, x.shape[1:]))} array, neither an image nor text"
            return
        self.dataset = ds
        self.position = {s: {int(v): i for i, v in enumerate(getattr(ds, s).index.tolist())} for s in SPLITS}

    def _decoder(self, data_cfg):
        path = data_cfg.options.get("tokenizer")
        if path is None:
            self.note = ("the dataset keeps neither its texts nor its tokenizer (it was trained when the data "
                         "was first read), so the text cannot be shown; its first token ids instead")
            return None
        try:
            from ..data.text import load_tokenizer

            tok = load_tokenizer(path)
        except Exception as e:  # noqa: BLE001 - as for the data: the tooltip says why
            self.note = f"the text cannot be shown: its tokenizer does not load here ({' '.join(str(e).split())[:200]}); its first token ids instead"
            return None
        return tok

    def row_of(self, split: str, index: int) -> int | None:
        return self.position[split].get(int(index)) if self.dataset is not None else None

    def payload(self) -> dict:
        """What the page keeps of the wanted samples: {"kind", "note", "keys", ...}."""
        if self.dataset is None:
            return {"kind": "none", "note": self.note}
        wanted = sorted((s, i) for s, i in self.wanted if self.row_of(s, i) is not None)
        if self.kind == "text":
            return self._texts(wanted)
        return self._thumbnails(wanted)

    def _texts(self, wanted: list[tuple[str, int]]) -> dict:
        texts = []
        for s, i in wanted:
            split = getattr(self.dataset, s)
            r = self.row_of(s, i)
            mask = split.fields.get("attention_mask")
            n = int(mask[r].sum()) if mask is not None else split.inputs.shape[1]
            ids = split.inputs[r, :n].tolist()
            if self.decode is None:
                texts.append("token ids: " + " ".join(map(str, ids[:TOKEN_IDS])) + (" …" if len(ids) > TOKEN_IDS else ""))
                continue
            text = self.decode.decode(ids, skip_special_tokens=False)
            for special in ("</s></s>", "</s><s>"):  # a pair's separator (RoBERTa's layout: <s> A </s></s> B </s>)
                text = text.replace(special, " ‖ ")
            for special in ("<s>", "</s>", "<pad>"):
                text = text.replace(special, "")
            text = " ".join(text.split())
            texts.append(text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + " …")
        return {"kind": "text", "note": self.note if self.decode is None else "", "keys": [f"{s}:{i}" for s, i in wanted],
                "texts": texts}

    def _thumbnails(self, wanted: list[tuple[str, int]]) -> dict:
        import torch
        import torch.nn.functional as F

        x0 = self.dataset.train.inputs
        c, h, w = x0.shape[1:]
        scale = max(1, -(-max(h, w) // THUMBNAIL_SIDE))
        th, tw = h // scale, w // scale
        per_image = c * th * tw
        note = ""
        if per_image * len(wanted) > THUMBNAIL_BYTES:  # too many for one page: a seeded subset keeps one
            keep = max(1, THUMBNAIL_BYTES // per_image)
            note = (f"no thumbnail kept for this sample: the page keeps thumbnails of {keep:,} of "
                    f"{len(wanted):,} samples (a random subset)")
            chosen = np.sort(np.random.default_rng(0).choice(len(wanted), size=keep, replace=False))
            wanted = [wanted[k] for k in chosen]
        lo, hi = self._range()
        pixels = bytearray()
        for s in SPLITS:
            rows = [self.row_of(sp, i) for sp, i in wanted if sp == s]
            if not rows:
                continue
            x = getattr(self.dataset, s).inputs[torch.as_tensor(rows)].float()
            if scale > 1:
                x = F.avg_pool2d(x, scale)[:, :, :th, :tw]
            x = ((x - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)
            pixels += x.contiguous().numpy().tobytes()
        ordered = [(sp, i) for s in SPLITS for sp, i in wanted if sp == s]
        return {"kind": "image", "note": note, "channels": int(c), "height": int(th), "width": int(tw),
                "keys": [f"{s}:{i}" for s, i in ordered], "pixels": base64.b64encode(bytes(pixels)).decode()}

    def _range(self) -> tuple[float, float]:
        """The stored inputs' value range: uint8 is 0..255; floats in [0, 1] are taken as such, others
        are stretched from the training split's min to its max."""
        x = self.dataset.train.inputs
        if not x.is_floating_point():
            return 0.0, 255.0
        lo, hi = float(x.min()), float(x.max())
        if lo >= 0 and hi <= 1:
            return 0.0, 1.0
        return lo, hi if hi > lo else lo + 1


class InputStore:
    """The inputs the page's scatters show, one entry per dataset, written once at the end of the page."""

    def __init__(self):
        self._inputs: dict[str, _Inputs] = {}

    def ref(self, data_cfg) -> tuple[str, _Inputs]:
        key = _data_key(data_cfg)
        if key not in self._inputs:
            self._inputs[key] = _Inputs(data_cfg)
        return f"kdlab-inputs-{list(self._inputs).index(key)}", self._inputs[key]

    def assets(self) -> list[str]:
        return [f"<script type='application/json' id='kdlab-inputs-{k}'>{_json_for_script(inp.payload())}</script>"
                for k, inp in enumerate(self._inputs.values())]


def _rounded(values, digits: int = 4) -> list:
    """Numbers for the page; None (JSON null) for a NaN or infinity, which JSON has no word for."""
    return [round(float(v), digits) if np.isfinite(v) else None for v in values]


def scatter_data(frame, title: str, inputs_id: str) -> dict:
    """The columns one scatter draws (compact: codes for splits and groups, rounded numbers)."""
    finite = np.isfinite(frame["x"].to_numpy(float)) & np.isfinite(frame["y"].to_numpy(float))
    shown = thinned(frame[finite])  # a sample without a finite X or Y (a diverged model) has no place to be drawn
    split = shown["split"].astype(str).to_numpy()
    group = shown["group"].astype(str).to_numpy()
    return {
        "title": title, "total": int(finite.sum()), "shown": len(shown), "not_finite": int((~finite).sum()),
        "inputs": inputs_id,
        "splits": list(SPLITS), "groups": list(GROUPS), "colours": [GROUP_COLOURS[g] for g in GROUPS],
        "index": shown["sample_index"].astype(int).tolist(), "split": [SPLITS.index(s) for s in split],
        "group": [GROUPS.index(g) for g in group],
        "label": shown["label"].astype(int).tolist(), "orig_label": shown["orig_label"].astype(int).tolist(),
        "noisy": shown["noisy"].astype(int).tolist(),
        "teacher_pred": shown["teacher_pred"].astype(int).tolist(), "student_pred": shown["student_pred"].astype(int).tolist(),
        "teacher_p_pred": _rounded(shown["teacher_p_pred"]), "student_p_pred": _rounded(shown["student_p_pred"]),
        "teacher_p_label": _rounded(shown["teacher_p_label"]), "student_p_label": _rounded(shown["student_p_label"]),
        "x": _rounded(shown["x"]), "y": _rounded(shown["y"]),
    }


def scatter_html(frame, store: InputStore, data_cfg, title: str) -> str:
    """The block of one pair's scatter; its inputs go to `store` (the page writes them once)."""
    inputs_id, inputs = store.ref(data_cfg)
    data = scatter_data(frame, title, inputs_id)
    inputs.wanted.update(zip((SPLITS[s] for s in data["split"]), data["index"]))
    notes = (f"<p class='kdlab-note'>Showing {data['shown']:,} of {data['total']:,} samples (a random subset): "
                    f"a page stays quick with at most {MAX_POINTS:,} marks a pair.</p>" if data["shown"] < data["total"] else "")
    if data["not_finite"]:
        notes += (f"<p class='kdlab-note'>{data['not_finite']:,} samples have no finite X or Y (a model's logits "
                         f"were not finite) and are not drawn.</p>")
    return (f"<div class='kdlab-scatter'><h3>{html.escape(title)}</h3>{notes}"
            "<p class='kdlab-note'>Hover a mark for its sample; click a group in the legend to show it alone "
            "(click it again, or “all”, to show every group). Filled marks: clean labels; rings: noisy labels.</p>"
            f"<script type='application/json' class='kdlab-scatter-data'>{_json_for_script(data)}</script></div>")


SCATTER_ASSET = r"""<style>
.kdlab-scatter{margin:1em 0 2em}.kdlab-scatter h3{font-size:15px;margin:.4em 0}.kdlab-note{color:#555;font-size:13px;margin:.3em 0}
.kdlab-plot{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}.kdlab-plot svg{width:480px;max-width:100%;height:auto;border:1px solid #ddd;background:#fff}
/* a ring (no fill) catches the pointer inside too */.kdlab-mark{pointer-events:visible}.kdlab-legend{font-size:13px;display:flex;flex-direction:column;gap:4px;min-width:190px}
.kdlab-legend button{display:flex;align-items:center;gap:6px;border:1px solid #ccc;background:#fafafa;border-radius:4px;padding:3px 8px;cursor:pointer;font:inherit;text-align:left}
.kdlab-legend button.on{border-color:#222;background:#eee}.kdlab-legend button i{display:inline-block;width:11px;height:11px;border-radius:50%}
.kdlab-tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;border-radius:4px;padding:6px 8px;font-size:12px;max-width:340px;box-shadow:0 2px 6px rgba(0,0,0,.2);z-index:10;display:none}
.kdlab-tip .t{font-weight:600}.kdlab-tip canvas{display:block;margin-top:4px;image-rendering:pixelated;border:1px solid #ccc}
.kdlab-tip .txt{margin-top:4px;white-space:pre-wrap;word-break:break-word}.kdlab-tip .why{margin-top:4px;color:#666;font-style:italic}
</style>
<script>
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var stores = {};
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function store(id) {  // a dataset's inputs, parsed once for every scatter on it
    if (!(id in stores)) {
      var node = document.getElementById(id), s = node ? JSON.parse(node.textContent) : {kind: "none", note: "no inputs kept"};
      s.row = {};
      (s.keys || []).forEach(function (k, i) { s.row[k] = i; });
      stores[id] = s;
    }
    return stores[id];
  }
  function bytes(s) {
    if (!s.bytes) {
      var b = atob(s.pixels), a = new Uint8Array(b.length);
      for (var i = 0; i < b.length; i++) a[i] = b.charCodeAt(i);
      s.bytes = a;
    }
    return s.bytes;
  }
  function thumbnail(s, row, parent) {
    var c = s.channels, h = s.height, w = s.width, px = bytes(s), off = row * c * h * w;
    var small = document.createElement("canvas");
    small.width = w; small.height = h;
    var ctx = small.getContext("2d"), img = ctx.createImageData(w, h);
    for (var p = 0; p < h * w; p++) {
      for (var ch = 0; ch < 3; ch++) img.data[4 * p + ch] = px[off + (c === 3 ? ch * h * w : 0) + p];
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    var big = document.createElement("canvas"), side = 96, f = side / Math.max(w, h);
    big.width = Math.round(w * f); big.height = Math.round(h * f);
    var bctx = big.getContext("2d");
    bctx.imageSmoothingEnabled = false;
    bctx.drawImage(small, 0, 0, big.width, big.height);
    parent.appendChild(big);
  }
  function ticks(lo, hi) {  // round numbers across [lo, hi], about eight
    var raw = (hi - lo) / 8, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    var step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag, out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(+t.toFixed(6));
    return out;
  }
  function fmt(p) { return p === null ? "not finite" : (100 * p).toFixed(1) + "%"; }

  function draw(box) {
    var d = JSON.parse(box.querySelector("script.kdlab-scatter-data").textContent), n = d.x.length;
    var inputs = store(d.inputs);
    var W = 480, H = 480, m = {l: 52, r: 12, t: 12, b: 44};
    var lo = Math.min(Math.min.apply(null, d.x), Math.min.apply(null, d.y));
    var hi = Math.max(Math.max.apply(null, d.x), Math.max.apply(null, d.y));
    if (!n) { lo = -1; hi = 1; }  // every sample was not finite: an empty frame
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    var pad = 0.04 * (hi - lo); lo -= pad; hi += pad;
    function sx(v) { return m.l + (v - lo) / (hi - lo) * (W - m.l - m.r); }
    function sy(v) { return H - m.b - (v - lo) / (hi - lo) * (H - m.t - m.b); }
    var plot = html("div", "kdlab-plot", undefined, box);
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img"}, plot);
    var axes = el("g", {"font-size": 11, fill: "#444"}, svg);
    ticks(lo, hi).forEach(function (t) {
      el("line", {x1: sx(t), x2: sx(t), y1: m.t, y2: H - m.b, stroke: "#eee"}, axes);
      el("line", {x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t), stroke: "#eee"}, axes);
      el("text", {x: sx(t), y: H - m.b + 15, "text-anchor": "middle"}, axes).textContent = t;
      el("text", {x: m.l - 5, y: sy(t) + 4, "text-anchor": "end"}, axes).textContent = t;
    });
    el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "none", stroke: "#999"}, axes);
    el("line", {x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi), stroke: "#222", "stroke-dasharray": "5 4"}, axes);
    el("text", {x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle"}, axes).textContent = "teacher X = \u03c6(p_te[y_te])";
    el("text", {x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (m.t + H - m.b) / 2 + ")"}, axes).textContent = "student Y = \u03c6(p_st[y_te])";
    var marks = el("g", {}, svg), frag = document.createDocumentFragment(), px = new Float64Array(n), py = new Float64Array(n), dots = [];
    for (var i = 0; i < n; i++) {
      px[i] = sx(d.x[i]); py[i] = sy(d.y[i]);
      var col = d.colours[d.group[i]], noisy = d.noisy[i] === 1;
      var c = el("circle", {cx: px[i].toFixed(1), cy: py[i].toFixed(1), r: noisy ? 3.2 : 2.6, "class": "kdlab-mark",
                            fill: noisy ? "none" : col, stroke: col, "stroke-width": noisy ? 1.4 : 0, "fill-opacity": 0.7,
                            "data-i": i, "data-index": d.index[i], "data-group": d.groups[d.group[i]], "data-split": d.splits[d.split[i]]});
      frag.appendChild(c); dots.push(c);
    }
    marks.appendChild(frag);
    var ring = el("circle", {r: 6, fill: "none", stroke: "#000", "stroke-width": 1.5, display: "none", "pointer-events": "none"}, svg);

    var legend = html("div", "kdlab-legend", undefined, plot), group = -1, split = -1, buttons = [];
    function visible(i) { return (group < 0 || d.group[i] === group) && (split < 0 || d.split[i] === split); }
    function apply() {
      var shown = 0;
      for (var i = 0; i < n; i++) { var v = visible(i); dots[i].style.display = v ? "" : "none"; shown += v; }
      svg.setAttribute("data-visible", shown);
      buttons.forEach(function (b) { b.el.classList.toggle("on", b.on()); });
    }
    function button(label, colour, on, click) {
      var b = html("button", "", undefined, legend);
      b.type = "button";
      if (colour) html("i", "", undefined, b).style.background = colour;
      html("span", "", label, b);
      b.addEventListener("click", click);
      buttons.push({el: b, on: on});
      return b;
    }
    html("span", "kdlab-note", "who is right (by the original label):", legend);
    button("all (" + d.shown + ")", null, function () { return group < 0; }, function () { group = -1; apply(); })
      .setAttribute("data-group", "all");
    d.groups.forEach(function (g, k) {
      var count = 0;
      for (var i = 0; i < n; i++) count += d.group[i] === k;
      button(g.replace("_", " ") + " (" + count + ")", d.colours[k], function () { return group === k; },
             function () { group = group === k ? -1 : k; apply(); }).setAttribute("data-group", g);
    });
    html("span", "kdlab-note", "split:", legend);
    ["both"].concat(d.splits).forEach(function (s, k) {
      button(s, null, function () { return split === k - 1; }, function () { split = k - 1; apply(); })
        .setAttribute("data-split", s);
    });

    var tip = html("div", "kdlab-tip", undefined, document.body);
    function show(i, ev) {
      tip.textContent = "";
      var key = d.splits[d.split[i]] + ":" + d.index[i];
      html("div", "t", "sample " + d.index[i] + " (" + d.splits[d.split[i]] + ")", tip);
      html("div", "", "label " + d.label[i] + (d.noisy[i] ? ": noisy, the original is " + d.orig_label[i] : ": clean (the original)"), tip);
      html("div", "", "teacher: predicts " + d.teacher_pred[i] + " (p " + fmt(d.teacher_p_pred[i]) + "); p(original label) " + fmt(d.teacher_p_label[i]), tip);
      html("div", "", "student: predicts " + d.student_pred[i] + "; p(teacher's class) " + fmt(d.student_p_pred[i]) + "; p(original label) " + fmt(d.student_p_label[i]), tip);
      html("div", "", "X " + d.x[i].toFixed(3) + ", Y " + d.y[i].toFixed(3) + "; right: " + {both_correct: "both", only_student: "only the student", only_teacher: "only the teacher", neither: "neither"}[d.groups[d.group[i]]], tip);
      var row = inputs.row[key];
      if (inputs.kind === "image" && row !== undefined) thumbnail(inputs, row, tip);
      else if (inputs.kind === "text" && row !== undefined) html("div", "txt", inputs.texts[row], tip);
      if (inputs.note && (inputs.kind !== "image" || row === undefined)) html("div", "why", inputs.note, tip);
      else if (inputs.kind !== "none" && row === undefined) html("div", "why", "input not kept for this sample", tip);
      tip.style.display = "block";
      var x = ev.clientX + 14, y = ev.clientY + 14, r = tip.getBoundingClientRect();
      if (x + r.width > window.innerWidth) x = ev.clientX - r.width - 14;
      if (y + r.height > window.innerHeight) y = Math.max(0, ev.clientY - r.height - 14);
      tip.style.left = x + "px"; tip.style.top = y + "px";
      tip.setAttribute("data-index", d.index[i]);
      ring.setAttribute("cx", px[i]); ring.setAttribute("cy", py[i]); ring.setAttribute("display", "");
    }
    function hide() { tip.style.display = "none"; ring.setAttribute("display", "none"); tip.removeAttribute("data-index"); }
    svg.addEventListener("mousemove", function (ev) {
      var over = ev.target.getAttribute("data-i");  // right over a mark: that one (the topmost there)
      if (over !== null) { show(+over, ev); return; }
      var box = svg.getBoundingClientRect(), f = W / box.width;
      var mx = (ev.clientX - box.left) * f, my = (ev.clientY - box.top) * f, best = -1, bestD = 64 * f * f;
      for (var i = 0; i < n; i++) {  // else the nearest visible mark within 8 px; the later (drawn on top) on a tie
        if (!visible(i)) continue;
        var dx = px[i] - mx, dy = py[i] - my, dd = dx * dx + dy * dy;
        if (dd <= bestD) { bestD = dd; best = i; }
      }
      if (best < 0) hide(); else show(best, ev);
    });
    svg.addEventListener("mouseleave", hide);
    svg.setAttribute("data-marks", n);
    apply();
  }
  function init() { Array.prototype.forEach.call(document.querySelectorAll(".kdlab-scatter"), draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
</script>"""
