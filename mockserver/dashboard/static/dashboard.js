/* mockserver dashboard: the request log, the timeline and the panels, live (pushed over server-sent
   events from /__mock/ui/events) or from a report's inlined journal. No build step, no network
   beyond the mock itself; the charts are uPlot (vendored beside this file, MIT). */
(function () {
  "use strict";

  var MAX = 5000;   // entries kept in the page; the journal keeps its own (10,000 by default)
  var ROWS = 300;   // rows drawn in the log: the newest that pass the filters
  var COLOURS = {answered: "#16a34a", "4xx": "#d97706", "5xx": "#dc2626", fault: "#7c3aed",
                 limited: "#0891b2", unmatched: "#db2777"};
  var CLASSES = ["answered", "4xx", "5xx", "fault", "limited", "unmatched"];
  var LABELS = {answered: "answered", "4xx": "4xx", "5xx": "5xx", fault: "fault",
                limited: "refused (rate limit / cap)", unmatched: "unmatched"};

  var cfg = JSON.parse(document.body.getAttribute("data-config") || "{}");
  var entries = [];          // oldest first, as the journal sends them
  var bySeq = new Map();
  var selected = null;       // the seq shown in the detail panel
  var state = null;          // the /ui/state snapshot (or the report's)
  var plot = null, plotRows = [], plotEntries = [];
  var pending = false;
  var journalSize = 0;
  var skipped = 0;           // entries the server did not push under load (the journal has them)

  function $(id) { return document.getElementById(id); }
  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  // headers arrive as an object {name: value} or as a list of [name, value] pairs
  function pairs(headers) {
    if (!headers) return [];
    if (Array.isArray(headers)) return headers.map(function (p) { return [String(p[0]), String(p[1])]; });
    return Object.keys(headers).map(function (k) { return [k, String(headers[k])]; });
  }
  function header(headers, name) {
    var lower = name.toLowerCase(), found = pairs(headers).filter(function (p) { return p[0].toLowerCase() === lower; });
    return found.length ? found[0][1] : null;
  }
  function faultName(e) {
    if (e.fault) return String(e.fault);
    var d = (e.decisions || []).filter(function (x) { return /^fault: /.test(x) || /fault /.test(x); })[0];
    if (d) return d.replace(/^.*fault:? /, "").split(/[ ,(]/)[0];
    return e.outcome || "no answer";
  }
  function statusText(e) {
    // a fault sent no status line (whatever status the rule would have had): its name tells what happened
    return e.status === null || e.status === undefined || kind(e) === "fault" ? faultName(e) : String(e.status);
  }
  function kind(e) {
    var decisions = (e.decisions || []).join("\n");
    if (/^(rate_limit|concurrency):/m.test(decisions)) return "limited";
    if (e.outcome === "unmatched") return "unmatched";
    if (e.status === null || e.status === undefined || e.outcome === "fault" || e.outcome === "timed_out" ||
        e.outcome === "client_gone") return "fault";
    if (e.status >= 500) return "5xx";
    if (e.status >= 400) return "4xx";
    return "answered";
  }
  function sent(e) { return e.first_byte || e.ended || e.arrived; }
  function client(e) { return (e.session || "") + " " + e.method + " " + e.path; }
  function ruleOf(e) { return e.rule || "(unmatched)"; }
  function rel(t) { return entries.length ? (t - entries[0].arrived) : 0; }
  function seconds(t) { return (t >= 0 ? "+" : "") + t.toFixed(3) + "s"; }

  // --- filters ---------------------------------------------------------------------------------

  function statusFilter(text) {
    var parts = text.split(/[ ,]+/).filter(Boolean);
    if (!parts.length) return null;
    return function (e) {
      return parts.some(function (p) {
        p = p.toLowerCase();
        if (/^\dxx$/.test(p)) return e.status !== null && e.status !== undefined && String(e.status)[0] === p[0];
        if (/^\d{3}$/.test(p)) return String(e.status) === p;
        if (p === "fault") return kind(e) === "fault";
        if (p === "unmatched" || p === "limited" || p === "refused") return kind(e) === (p === "refused" ? "limited" : p);
        return statusText(e).toLowerCase() === p || (e.outcome || "") === p;
      });
    };
  }
  function filtered() {
    var session = $("f-session").value, rule = $("f-rule").value;
    var status = statusFilter($("f-status").value), win = Number($("f-window").value);
    var newest = entries.length ? Math.max(entries[entries.length - 1].arrived,
      cfg.mode === "live" ? Date.now() / 1000 : 0) : 0;
    return entries.filter(function (e) {
      return (!session || (e.session || "(none)") === session) && (!rule || ruleOf(e) === rule) &&
        (!status || status(e)) && (!win || e.arrived >= newest - win);
    });
  }
  function refreshOptions(select, values) {
    var current = select.value, known = {};
    Array.prototype.forEach.call(select.options, function (o) { known[o.value] = true; });
    values.forEach(function (v) {
      if (!known[v]) { var o = document.createElement("option"); o.value = v; o.textContent = v; select.appendChild(o); known[v] = true; }
    });
    select.value = current;
  }

  // --- the log -----------------------------------------------------------------------------------

  function renderLog(rows) {
    var html = [];
    var shown = rows.slice(-ROWS).reverse();
    shown.forEach(function (e) {
      var k = kind(e), target = e.path + (e.query ? "?" + e.query : "");
      var misses = (e.near_misses || []).map(function (m) {
        return "near miss " + esc(m.rule) + (m.source ? " (" + esc(m.source) + ")" : "") + ": " + esc((m.mismatches || []).join("; "));
      });
      html.push('<tr data-seq="' + e.seq + '" class="k-' + k + (e.seq === selected ? " selected" : "") + '">' +
        "<td>" + e.seq + "</td><td>" + seconds(rel(e.arrived)) + "</td><td>" + esc(e.method) + "</td>" +
        '<td class="path" title="' + esc(target) + '">' + esc(target) + "</td>" +
        '<td class="status"><span class="dot" style="background:' + COLOURS[k] + '"></span>' + esc(statusText(e)) + "</td>" +
        "<td>" + esc(e.rule || "—") + "</td><td>" + esc(e.session || "") + "</td>" +
        "<td>" + (e.delay ? esc(Number(e.delay).toFixed(3)) + "s" : e.delay === null ? "∞" : "") + "</td>" +
        '<td class="decisions">' + esc((e.decisions || []).join("; ")) +
        (misses.length ? '<div class="misses">' + misses.join("<br>") + "</div>" : "") + "</td></tr>");
    });
    $("log").tBodies[0].innerHTML = html.join("");
    $("shown").textContent = "showing " + shown.length + " of " + rows.length + " matching, " + entries.length +
      " in the page" + (journalSize > entries.length ? ", " + journalSize + " in the journal" : "") +
      (skipped ? ", " + skipped + " not pushed under load" : "");
  }

  function renderDetail() {
    var box = $("detail"), e = selected === null ? null : bySeq.get(selected);
    if (!e) { box.hidden = true; return; }
    box.hidden = false;
    function table(list) {
      if (!list.length) return '<p class="muted">none</p>';
      return "<table>" + list.map(function (p) { return "<tr><th>" + esc(p[0]) + "</th><td>" + esc(p[1]) + "</td></tr>"; }).join("") + "</table>";
    }
    var prev = previousOf(e), wait = "";
    if (prev) {
      var ra = header(prev.response_headers, "Retry-After"), gap = e.arrived - sent(prev);
      wait = "<p>" + gap.toFixed(3) + "s after the answer to #" + prev.seq + " (" + esc(statusText(prev)) + ")" +
        (ra !== null ? ", which said Retry-After: " + esc(ra) + " — " +
          (gap + 0.01 >= Number(ra) ? '<span class="ok">waited long enough</span>' : '<span class="bad">came back early</span>') : "") + "</p>";
    }
    box.innerHTML = '<h2>#' + e.seq + " " + esc(e.method) + " " + esc(e.path + (e.query ? "?" + e.query : "")) +
      ' <button type="button" id="close-detail">close</button></h2>' +
      '<p class="answer k-' + kind(e) + '">' + esc(statusText(e)) + " " + esc(e.reason || "") + " · " + esc(e.outcome) +
      " · rule " + esc(e.rule || "none") + (e.session ? " · session " + esc(e.session) : "") + "</p>" +
      "<p>arrived " + esc(new Date(e.arrived * 1000).toISOString()) + " (" + seconds(rel(e.arrived)) + ")" +
      (e.first_byte ? ", answer began " + (e.first_byte - e.arrived).toFixed(3) + "s later" : "") +
      (e.ended ? ", ended " + (e.ended - e.arrived).toFixed(3) + "s later" : "") +
      (e.delay ? ", delay " + Number(e.delay).toFixed(3) + "s" : "") +
      (e.deadline ? ", deadline " + esc(e.deadline) + "s" : "") + "</p>" + wait +
      "<h3>decisions</h3>" + ((e.decisions || []).length ? "<ol class=\"trail\">" + e.decisions.map(function (d) { return "<li>" + esc(d) + "</li>"; }).join("") + "</ol>" : '<p class="muted">none</p>') +
      ((e.near_misses || []).length ? "<h3>near misses</h3><ul>" + e.near_misses.map(function (m) {
        return "<li>" + esc(m.rule) + (m.source ? " (" + esc(m.source) + ")" : "") + ": " + esc((m.mismatches || []).join("; ")) + "</li>";
      }).join("") + "</ul>" : "") +
      "<h3>request headers</h3>" + table(pairs(e.headers)) +
      "<h3>request body</h3>" + (e.body ? "<pre>" + esc(e.body) + "</pre>" : '<p class="muted">empty</p>') +
      "<h3>answer headers</h3>" + table(pairs(e.response_headers)) +
      '<p class="muted">request id ' + esc(e.request_id) + (e.client ? ", client " + esc(e.client) : "") + "</p>";
    $("close-detail").onclick = function () { selected = null; renderDetail(); schedule(); };
  }

  function previousOf(e) {
    var key = client(e), best = null;
    entries.forEach(function (x) {
      if (x !== e && client(x) === key && x.arrived < e.arrived && (!best || x.arrived > best.arrived)) best = x;
    });
    return best;
  }

  // --- the timeline ------------------------------------------------------------------------------

  function retryGaps(rows) {
    // consecutive requests of one client (session, method, path); those after a Retry-After answer
    var last = new Map(), gaps = [];
    rows.forEach(function (e) {
      var key = client(e), prev = last.get(key);
      if (prev) {
        var ra = header(prev.response_headers, "Retry-After");
        if (ra !== null && !isNaN(Number(ra))) {
          gaps.push({from: sent(prev), to: e.arrived, after: sent(prev) + Number(ra), ok: e.arrived + 0.01 >= sent(prev) + Number(ra), entry: e});
        }
      }
      last.set(key, e);
    });
    return gaps;
  }

  function phases() {
    if (!state || !state.scenarios) return [];
    var origin = state.wall - state.clock, scale = state.time_scale > 0 ? state.time_scale : 1, out = [];
    state.scenarios.forEach(function (s) {
      (s.phases || []).forEach(function (p, i) {
        out.push({from: origin + p.start * scale, to: origin + p.end * scale, label: s.name + " phase " + i + " (" + p.label + ")"});
      });
    });
    return out;
  }

  function renderTimeline(rows) {
    var group = $("f-group").value;
    var sorted = rows.slice().sort(function (a, b) { return a.arrived - b.arrived || a.seq - b.seq; });
    var names = [], index = new Map();
    sorted.forEach(function (e) {
      var key = group === "session" ? (e.session || "(none)") : ruleOf(e);
      if (!index.has(key)) { index.set(key, names.length); names.push(key); }
    });
    var xs = sorted.map(function (e) { return e.arrived; });
    var ys = CLASSES.map(function (c) {
      return sorted.map(function (e) { return kind(e) === c ? index.get(group === "session" ? (e.session || "(none)") : ruleOf(e)) : null; });
    });
    plotRows = names; plotEntries = sorted;
    var box = $("timeline"), width = Math.max(300, box.clientWidth || 800);
    var height = Math.max(140, Math.min(420, 60 + names.length * 28));
    var rowOf = function (e) { return index.get(group === "session" ? (e.session || "(none)") : ruleOf(e)); };
    var gaps = retryGaps(sorted), bands = phases();
    // what is drawn, in words, for tests and for assistive tools
    box.setAttribute("data-rows", names.join("\n"));
    box.setAttribute("data-points", String(xs.length));
    box.setAttribute("data-gaps", gaps.map(function (g) { return "#" + g.entry.seq + (g.ok ? " waited" : " early"); }).join(", "));
    box.setAttribute("data-phases", String(bands.length));
    if (plot && (plot.series.length !== CLASSES.length + 1 || plot.height !== height || plot.width !== width)) { plot.destroy(); plot = null; }
    var data = [xs].concat(ys);
    if (plot) { plot._rowOf = rowOf; plot._gaps = gaps; plot._bands = bands; plot.setData(data, !plot._zoomed); return; }
    var opts = {
      width: width, height: height, legend: {show: true, live: false},
      cursor: {drag: {x: true, y: false}, points: {show: false}},
      scales: {x: {time: true}, y: {auto: false, range: function () { return [-0.5, Math.max(0.5, plotRows.length - 0.5)]; }}},
      axes: [{}, {size: 170, splits: function () { return plotRows.map(function (_, i) { return i; }); },
                  values: function (u, splits) { return splits.map(function (i) { var n = plotRows[i] || ""; return n.length > 26 ? "…" + n.slice(-25) : n; }); },
                  grid: {show: true, stroke: "#eee"}}],
      series: [{label: "time"}].concat(CLASSES.map(function (c) {
        return {label: LABELS[c], stroke: COLOURS[c], fill: COLOURS[c], width: 0, paths: function () { return null; },
                points: {show: true, size: 8, width: 1, fill: COLOURS[c], stroke: COLOURS[c]}};
      })),
      hooks: {
        setSelect: [function (u) { if (u.select.width > 0) u._zoomed = true; }],
        drawClear: [function (u) {
          var ctx = u.ctx; ctx.save();
          (u._bands || []).forEach(function (b, i) {
            var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
            var x0 = Math.max(left, u.valToPos(b.from, "x", true)), x1 = Math.min(right, u.valToPos(b.to, "x", true));
            if (x1 <= x0) return;  // outside what is shown
            ctx.fillStyle = i % 2 ? "rgba(124,58,237,0.08)" : "rgba(37,99,235,0.08)";
            ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
            ctx.fillStyle = "#555"; ctx.font = (10 * devicePixelRatio) + "px sans-serif";
            ctx.fillText(b.label, x0 + 3, u.bbox.top + 10 * devicePixelRatio);
          });
          ctx.restore();
        }],
        draw: [function (u) {
          var ctx = u.ctx; ctx.save(); ctx.lineWidth = 2 * devicePixelRatio;
          var lanes = new Map();  // each client its own lane under the row, so lines do not overlap
          (u._gaps || []).forEach(function (g) {
            var who = client(g.entry);
            if (!lanes.has(who)) lanes.set(who, lanes.size % 3);
            var row = u._rowOf(g.entry), y = u.valToPos(row, "y", true) + (5 + 4 * lanes.get(who)) * devicePixelRatio;
            var x0 = u.valToPos(g.from, "x", true), x1 = u.valToPos(g.to, "x", true), xa = u.valToPos(g.after, "x", true);
            ctx.strokeStyle = g.ok ? "#16a34a" : "#dc2626";
            ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.stroke();
            ctx.strokeStyle = "#111"; ctx.beginPath(); ctx.moveTo(xa, y - 5 * devicePixelRatio); ctx.lineTo(xa, y + 5 * devicePixelRatio); ctx.stroke();
          });
          ctx.restore();
        }],
      },
    };
    plot = new uPlot(opts, data, box);
    plot._rowOf = rowOf; plot._gaps = gaps; plot._bands = bands;
    plot.redraw();
    plot.over.addEventListener("dblclick", function () { plot._zoomed = false; });
    plot.over.addEventListener("click", function () {
      var i = plot.cursor.idx;
      if (i !== null && i !== undefined && plotEntries[i]) select(plotEntries[i].seq);
    });
  }

  // --- panels ------------------------------------------------------------------------------------

  function renderCounts(rows) {
    var counts = new Map();
    rows.forEach(function (e) {
      var r = ruleOf(e), c = counts.get(r) || {total: 0};
      c.total += 1; c[kind(e)] = (c[kind(e)] || 0) + 1; counts.set(r, c);
    });
    var html = ["<tr><th>rule</th><th>requests</th><th>outcomes</th></tr>"];
    counts.forEach(function (c, r) {
      html.push("<tr><td>" + esc(r) + "</td><td>" + c.total + "</td><td>" + CLASSES.filter(function (k) { return c[k]; }).map(function (k) {
        return '<span class="dot" style="background:' + COLOURS[k] + '"></span>' + esc(LABELS[k]) + " " + c[k];
      }).join(" ") + "</td></tr>");
    });
    $("counts").tBodies[0].innerHTML = html.join("");
  }

  function renderState() {
    if (!state) return;
    var html = [];
    var sessions = state.sessions || {};
    Object.keys(sessions).forEach(function (key) {
      var s = sessions[key];
      html.push("<h3>session " + esc(key || "(default)") + "</h3>");
      var rows = [];
      Object.keys(s.hits || {}).forEach(function (k) { rows.push(["hits " + k, s.hits[k]]); });
      Object.keys(s.states || {}).forEach(function (k) { rows.push(["state " + k, s.states[k]]); });
      Object.keys(s.buckets || {}).forEach(function (k) { rows.push(["bucket " + k, s.buckets[k] + " tokens"]); });
      Object.keys(s.in_flight || {}).forEach(function (k) { rows.push(["in flight " + k, s.in_flight[k]]); });
      html.push("<table>" + rows.map(function (r) { return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>"; }).join("") + "</table>");
    });
    if (!html.length) html.push('<p class="muted">no session state yet</p>');
    if (state.seed !== undefined) html.push('<p class="muted">seed ' + esc(state.seed === null ? "scenario seeds" : state.seed) +
      (state.clock !== undefined ? ", clock " + Number(state.clock).toFixed(1) + "s" : "") + "</p>");
    $("state").innerHTML = html.join("");
    $("scenarios").innerHTML = (state.scenarios || []).map(function (s) {
      return "<details><summary><b>" + esc(s.name) + "</b> <span class=\"muted\">" + esc(s.source) + "</span></summary><ul>" +
        (s.rules || []).map(function (r) { return "<li>" + esc(r.id) + ' <span class="muted">' + esc(r.source) + "</span></li>"; }).join("") +
        ((s.phases || []).length ? "<li>timeline: " + s.phases.map(function (p) { return esc(p.label); }).join(", ") + "</li>" : "") +
        "</ul></details>";
    }).join("") || '<p class="muted">none known</p>';
    var faults = state.faults || [];
    $("faults").innerHTML = faults.length ? "<ul>" + faults.map(function (f) {
      return "<li><code>" + esc(JSON.stringify(f)) + "</code>" + (cfg.mode === "live" ? ' <button type="button" data-fault="' + esc(f.name) + '">remove</button>' : "") + "</li>";
    }).join("") + "</ul>" : '<p class="muted">none</p>';
    Array.prototype.forEach.call($("faults").querySelectorAll("button[data-fault]"), function (b) {
      b.onclick = function () { control("DELETE", "/faults/" + encodeURIComponent(b.getAttribute("data-fault"))); };
    });
  }

  // --- drawing -----------------------------------------------------------------------------------

  function render() {
    pending = false;
    refreshOptions($("f-session"), entries.map(function (e) { return e.session || "(none)"; }).filter(function (v, i, a) { return a.indexOf(v) === i; }));
    refreshOptions($("f-rule"), entries.map(ruleOf).filter(function (v, i, a) { return a.indexOf(v) === i; }));
    var rows = filtered();
    renderLog(rows);
    renderTimeline(rows);
    renderCounts(rows);
    renderDetail();
  }
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(render); } }
  function select(seq) { selected = seq; schedule(); }

  function add(list, reset) {
    if (reset) { entries = []; bySeq = new Map(); selected = null; }
    list.forEach(function (e) {
      var held = bySeq.get(e.seq);
      if (held) {  // a pending exchange's finished entry (same number): it takes the old one's place
        var at = entries.lastIndexOf(held);
        if (at >= 0) entries[at] = e;
      } else {
        entries.push(e);
      }
      bySeq.set(e.seq, e);
    });
    if (entries.length > MAX) {
      entries.splice(0, entries.length - MAX).forEach(function (e) { bySeq.delete(e.seq); });
    }
    schedule();
  }

  // --- the live page -----------------------------------------------------------------------------

  function qs() { return cfg.token ? "?token=" + encodeURIComponent(cfg.token) : ""; }
  function authHeaders(extra) {
    var h = extra || {};
    if (cfg.token) h.Authorization = "Bearer " + cfg.token;
    return h;
  }
  var stateTimer = null;
  function loadState() {
    if (stateTimer) return;
    stateTimer = setTimeout(function () {
      stateTimer = null;
      fetch(cfg.base + "/ui/state", {headers: authHeaders(), cache: "no-store"}).then(function (r) { return r.json(); })
        .then(function (s) { state = s; journalSize = s.journal ? s.journal.size : journalSize; renderState(); schedule(); })
        .catch(function () {});
    }, 200);
  }
  function control(method, path, body) {
    var out = $("control-result");
    return fetch(cfg.base + path, {method: method, headers: authHeaders({"Content-Type": "application/json"}),
                                   body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return [r, j]; }); })
      .then(function (rj) {
        out.textContent = rj[0].ok ? method + " " + path + ": done" : (rj[1].detail || rj[1].error || rj[0].status);
        out.className = rj[0].ok ? "muted" : "bad";
        if (rj[0].ok && path === "/reset") add([], true);
        loadState();
      })
      .catch(function (err) { out.textContent = String(err); out.className = "bad"; });
  }
  function live() {
    $("controls").hidden = false; $("fault-controls").hidden = false;
    $("do-reset").onclick = function () { control("POST", "/reset"); };
    $("do-seed").onclick = function () {
      var v = $("seed").value.trim();
      if (v && !/^-?\d+$/.test(v)) { $("control-result").textContent = "seed: found " + v + "; expected an integer or nothing"; $("control-result").className = "bad"; return; }
      control("POST", "/seed", {seed: v ? Number(v) : null});
    };
    $("do-advance").onclick = function () { control("POST", "/clock/advance", {seconds: Number($("advance").value)}); };
    $("do-fault").onclick = function () {
      var spec;
      try { spec = JSON.parse($("fault-spec").value); } catch (err) {
        $("control-result").textContent = "fault spec: not JSON (" + err.message + ")"; $("control-result").className = "bad"; return;
      }
      control("POST", "/faults", spec);
    };
    var source = new EventSource(cfg.base + "/ui/events" + qs());
    source.addEventListener("entries", function (ev) {
      var data = JSON.parse(ev.data);
      journalSize = data.size;
      if (data.reset) skipped = 0;
      skipped += data.skipped || 0;
      add(data.entries, data.reset);
      loadState();
    });
    source.onopen = function () { $("conn").textContent = "live"; $("conn").className = "conn live"; };
    source.onerror = function () { $("conn").textContent = "disconnected, retrying"; $("conn").className = "conn down"; };
    loadState();
  }

  function report() {
    var data = JSON.parse($("mock-data").textContent);
    $("conn").textContent = "report"; $("conn").className = "conn";
    state = data.state || null;
    journalSize = data.entries.length;
    add(data.entries, true);
    renderState();
  }

  document.addEventListener("DOMContentLoaded", function () {
    ["f-session", "f-rule", "f-window", "f-group"].forEach(function (id) { $(id).addEventListener("change", schedule); });
    $("f-status").addEventListener("input", schedule);
    $("log").tBodies[0].addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr[data-seq]");
      if (tr) select(Number(tr.getAttribute("data-seq")));
    });
    window.addEventListener("resize", function () { if (plot) { plot.destroy(); plot = null; } schedule(); });
    if (cfg.mode === "report") report(); else live();
  });
  window.mockDashboard = {entries: function () { return entries; }, rows: function () { return plotRows; },
                         plot: function () { return plot; }};
})();
