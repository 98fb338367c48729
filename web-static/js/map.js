// The enterprise map.  Government networks have their own tile servers, so
// the tile URL is a setting (localStorage dw.tiles); without one — or when the
// tiles cannot be reached — the map is a plain lon/lat view: a grid, the outline
// of each street/town (hull of its enterprises) and the enterprises as dots
// coloured by risk grade.
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

export async function enterpriseMap(el, ctx, ents, gradeOf, onOpen) {
  const L = await leaflet();
  if (!el.isConnected) return null;
  const map = L.map(el, { preferCanvas: true, attributionControl: false, zoomSnap: 0.25, minZoom: 3, maxZoom: 18 });
  ctx.onLeave(() => map.remove());
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

  // area outlines (plain view only)
  const byArea = new Map();
  for (const e of located) {
    const k = e.street ? e.street.name : e.district.name;
    if (!byArea.has(k)) byArea.set(k, []);
    byArea.get(k).push([e.longitude, e.latitude]);
  }
  for (const [name, pts] of byArea) {
    if (pts.length < 2) continue;
    const poly = pad(hull(pts), 0.006).map(([x, y]) => [y, x]);
    L.polygon(poly, { color: '#7c9cc8', weight: 1, dashArray: '4 4', fillColor: '#c9d8ee', fillOpacity: 0.18, interactive: false })
      .bindTooltip(name, { permanent: true, direction: 'center', className: 'area-label' }).addTo(plainLayer);
  }
  const markers = new Map();
  for (const e of located) {
    const g = gradeOf(e) || 'none';
    const m = L.circleMarker([e.latitude, e.longitude], { radius: 7, color: '#fff', weight: 1.5, fillColor: GRADE_COLOURS[g], fillOpacity: 0.95 })
      .bindTooltip(`${e.name} · ${t('grade.' + g)}`)
      .on('click', () => onOpen(e));
    m.addTo(map);
    markers.set(e.id, m);
  }
  return {
    recolour(gradeOfNew) {
      for (const e of located) {
        const g = gradeOfNew(e) || 'none';
        const m = markers.get(e.id);
        m.setStyle({ fillColor: GRADE_COLOURS[g] });
        m.setTooltipContent(`${e.name} · ${t('grade.' + g)}`);
      }
    },
    flash(id) {
      const m = markers.get(id);
      if (!m) return;
      m.setStyle({ radius: 13 });
      setTimeout(() => m.setStyle({ radius: 7 }), 2500);
    },
  };
}

export function legend() {
  return h('span', { class: 'map-legend' }, ['red', 'orange', 'yellow', 'blue', 'none'].map(g =>
    h('span', null, h('i', { style: { background: GRADE_COLOURS[g] } }), t('grade.' + g))),
  tileUrl() ? null : h('span', null, '· ' + t('map.plain')));
}
