// The enterprise map.  Government networks have their own tile servers, so
// the tile URL is a setting (localStorage dw.tiles); without one — or when the
// tiles cannot be reached — the map is a plain lon/lat view: a grid, the
// district and street boundaries (GeoJSON, offline; the hull of an area's
// enterprises where the file has no outline) and the enterprises as dots
// coloured by risk grade, clustered where they crowd.
import { leaflet, GRADE_COLOURS, h } from './ui.js';
import { t } from './i18n.js';

export function tileUrl() { return localStorage.getItem('dw.tiles') || ''; }

function hull(pts) {
  const p = pts.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [], upper = [];
  for (const q of p) { while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop(); lower.push(q); }
  for (const q of p.reverse()) { while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop(); upper.push(q); }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}
// pad a hull outwards a little so single-row areas still show
function pad(poly, d) {
  const cx = poly.reduce((s, p) => s + p[0], 0) / poly.length, cy = poly.reduce((s, p) => s + p[1], 0) / poly.length;
  return poly.map(([x, y]) => { const dx = x - cx, dy = y - cy, l = Math.hypot(dx, dy) || 1; return [x + dx / l * d, y + dy / l * d]; });
}

// Boundaries: /geo/boundaries.geojson (shipped: schematic outlines of the demo
// city, web-static/geo/make_schematic.py; a city puts its own there).  Loaded
// once; only the districts and streets the enterprises are in are drawn, each
// labelled with the name the database gives it.
let boundaries = null;
function loadBoundaries() {
  return boundaries || (boundaries = fetch('/geo/boundaries.geojson', { credentials: 'same-origin' })
    .then(r => (r.ok ? r.json() : null)).catch(() => null));
}
const WORST = ['red', 'orange', 'yellow', 'blue', 'none'];

// Leaflet 1.9.4's canvas renderer redraws synchronously on 'update' (after a
// move) and forgets the animation frame it had already requested; map.remove()
// then cancels only the newer one, and the forgotten frame redraws a canvas
// whose context is gone (TypeError reading 'clearRect', seen when a page is left
// while its map settles).  A redraw without a context has nothing to draw.
function guardCanvasRedraw(L) {
  const proto = L.Canvas.prototype;
  if (proto._dwGuarded) return;
  const redraw = proto._redraw;
  L.Canvas.include({ _dwGuarded: true, _redraw() { if (this._ctx) redraw.call(this); else this._redrawRequest = null; } });
}

export async function enterpriseMap(el, ctx, ents, gradeOf, onOpen, opts = {}) {
  const L = await leaflet();
  if (!el.isConnected) return null;
  guardCanvasRedraw(L);
  // no animations: a page left while a zoom or fade runs removes the map under
  // Leaflet's transition-end handler (TypeError reading '_leaflet_pos')
  const map = L.map(el, { preferCanvas: true, attributionControl: false, zoomSnap: 0.25, minZoom: 3, maxZoom: 18,
    zoomAnimation: false, fadeAnimation: false, markerZoomAnimation: false });
  ctx.onLeave(() => { map.off(); map.stop(); map.remove(); });
  el._dwMap = map; // for the browser tests
  const located = ents.filter(e => e.latitude != null && e.longitude != null);
  // the view first: vector layers need a projection when they are added
  if (located.length) map.fitBounds(L.latLngBounds(located.map(e => [e.latitude, e.longitude])).pad(0.08));
  else map.setView([31.23, 121.47], 10);
  const url = tileUrl();
  let plainLayer = L.layerGroup();
  const goPlain = () => { el.classList.add('plain'); plainLayer.addTo(map); };
  if (url) {
    let errors = 0;
    const tiles = L.tileLayer(url, { maxZoom: 18 }).addTo(map);
    tiles.on('tileerror', () => { if (++errors === 4) { map.removeLayer(tiles); goPlain(); } });
  } else goPlain();

  // boundaries of the districts and streets in view: from the GeoJSON where it
  // has them, else the hull of the area's enterprises (plain view only)
  const dark = !!opts.dark;
  const names = new Map();
  for (const e of located) {
    names.set(e.district.code, e.district.name);
    if (e.street) names.set(e.street.code, e.street.name);
  }
  const geo = await loadBoundaries();
  if (!el.isConnected || !map._loaded) return null;
  const drawn = new Set();
  const streetLabels = L.layerGroup();
  let outline = null; // the drawn districts' extent: the view shows them whole
  for (const f of (geo && geo.features) || []) {
    const p = f.properties || {};
    if (!names.has(p.code)) continue;
    drawn.add(p.code);
    const district = p.level === 'district';
    const layer = L.geoJSON(f, { interactive: false, style: district
      ? { color: dark ? '#4f8fe8' : '#5b7fb5', weight: 2, fillColor: dark ? '#17305a' : '#dbe6f5', fillOpacity: dark ? 0.25 : 0.25 }
      : { color: dark ? '#3b6aa8' : '#8fa9cf', weight: 1, dashArray: '4 4', fillOpacity: 0 } });
    layer.addTo(plainLayer);
    if (district) outline = outline ? outline.extend(layer.getBounds()) : layer.getBounds();
    const label = names.get(p.code) + (p.schematic && district ? ' ' + t('map.schematic') : '');
    const tip = L.tooltip({ permanent: true, direction: 'center', className: 'area-label' + (district ? ' district' : ''), interactive: false })
      .setLatLng(layer.getBounds().getCenter()).setContent(label);
    (district ? plainLayer : streetLabels).addLayer(tip);
  }
  const byArea = new Map();
  for (const e of located) {
    const k = e.street ? e.street.code : e.district.code;
    if (drawn.has(k)) continue;
    if (!byArea.has(k)) byArea.set(k, []);
    byArea.get(k).push([e.longitude, e.latitude]);
  }
  for (const [code, pts] of byArea) {
    if (pts.length < 2) continue;
    const poly = pad(hull(pts), 0.006).map(([x, y]) => [y, x]);
    L.polygon(poly, { color: '#7c9cc8', weight: 1, dashArray: '4 4', fillColor: '#c9d8ee', fillOpacity: 0.18, interactive: false }).addTo(plainLayer);
    streetLabels.addLayer(L.tooltip({ permanent: true, direction: 'center', className: 'area-label', interactive: false })
      .setLatLng(L.latLngBounds(poly).getCenter()).setContent(names.get(code) || code));
  }
  if (outline && !url) map.fitBounds(located.length ? outline.extend(L.latLngBounds(located.map(e => [e.latitude, e.longitude]))) : outline, { padding: [8, 8] });
  // street labels only once zoomed in far enough to hold them without overlap
  const labelsByZoom = () => { if (map.getZoom() >= 11.5) { if (!map.hasLayer(streetLabels)) streetLabels.addTo(map); } else map.removeLayer(streetLabels); };
  map.on('zoomend', labelsByZoom);
  labelsByZoom();

  // markers, clustered on a pixel grid: enterprises closer than CELL px at the
  // current zoom are one circle with their count, coloured by the worst grade;
  // a click on it zooms in.  Re-clustered on every zoom.
  const CELL = 44;
  const markerLayer = L.layerGroup().addTo(map);
  const markers = new Map(); // enterprise id -> its marker, or the cluster holding it
  let gradeFn = gradeOf;
  function render() {
    markerLayer.clearLayers();
    markers.clear();
    const cells = new Map();
    for (const e of located) {
      const pt = map.project([e.latitude, e.longitude], map.getZoom());
      const key = Math.floor(pt.x / CELL) + ':' + Math.floor(pt.y / CELL);
      if (!cells.has(key)) cells.set(key, []);
      cells.get(key).push(e);
    }
    for (const group of cells.values()) {
      if (group.length === 1 || map.getZoom() >= map.getMaxZoom()) {
        for (const e of group) {
          const g = gradeFn(e) || 'none';
          const m = L.circleMarker([e.latitude, e.longitude], { radius: 7, color: dark ? '#0b1a33' : '#fff', weight: 1.5, fillColor: GRADE_COLOURS[g], fillOpacity: 0.95 })
            .bindTooltip(`${e.name} · ${t('grade.' + g)}`)
            .on('click', () => onOpen(e));
          m.addTo(markerLayer);
          markers.set(e.id, m);
        }
        continue;
      }
      const worst = WORST.find(g => group.some(e => (gradeFn(e) || 'none') === g)) || 'none';
      const lat = group.reduce((a, e) => a + e.latitude, 0) / group.length, lon = group.reduce((a, e) => a + e.longitude, 0) / group.length;
      const size = group.length < 10 ? 30 : group.length < 50 ? 36 : 42;
      const icon = L.divIcon({ className: 'cluster-icon', iconSize: [size, size],
        html: `<div class="cluster ${worst}" data-cluster="${group.length}" style="width:${size}px;height:${size}px;line-height:${size}px">${group.length}</div>` });
      const m = L.marker([lat, lon], { icon, keyboard: false })
        .bindTooltip(group.slice(0, 8).map(e => e.name).join('<br>') + (group.length > 8 ? '<br>…' : ''))
        .on('click', () => map.fitBounds(L.latLngBounds(group.map(e => [e.latitude, e.longitude])).pad(0.3), { maxZoom: map.getZoom() + 3 }));
      m.addTo(markerLayer);
      for (const e of group) markers.set(e.id, m);
    }
  }
  map.on('zoomend', render);
  render();
  return {
    map,
    recolour(gradeOfNew) { gradeFn = gradeOfNew; render(); },
    flash(id) {
      const m = markers.get(id);
      if (!m) return;
      if (m.setStyle) { m.setStyle({ radius: 13 }); setTimeout(() => { if (markers.get(id) === m) m.setStyle({ radius: 7 }); }, 2500); }
      else if (m.getElement()) { const d = m.getElement().querySelector('.cluster'); if (d) { d.classList.add('flash'); setTimeout(() => d.classList.remove('flash'), 2500); } }
    },
  };
}

export function legend() {
  return h('span', { class: 'map-legend' }, ['red', 'orange', 'yellow', 'blue', 'none'].map(g =>
    h('span', null, h('i', { style: { background: GRADE_COLOURS[g] } }), t('grade.' + g))),
  tileUrl() ? null : h('span', null, '· ' + t('map.plain')));
}
