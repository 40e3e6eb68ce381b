// The dashboard's heat map: every grid coloured by its number of tickets in the period (from
// api/stats/heat: counts per grid over all the period's tickets), street outlines on top.
// Leaflet from npm, no tiles.

import { getJSON } from './api.js';
import { el } from './labels.js';

const L = window.L;
const SCALE = ['#ffd43b', '#fab005', '#fd7e14', '#e8590c', '#c92a2a'];

let map = null;
let gridLayer = null;
let streetLayer = null;
let dotLayer = null;
let outlinesPromise = null;

function colour(count, max) {
  if (!count) return null;
  if (max <= 1) return SCALE[2];
  const i = Math.min(SCALE.length - 1, Math.floor(((count - 1) / (max - 1)) * (SCALE.length - 1) + 0.0001));
  return SCALE[i];
}

function loadOutlines() {
  if (!outlinesPromise) {
    outlinesPromise = Promise.all([getJSON('api/grids?level=grid'), getJSON('api/grids?level=street')])
      .catch((err) => {
        outlinesPromise = null;
        throw err;
      });
  }
  return outlinesPromise;
}

function ensureMap(container) {
  if (map) return;
  map = L.map(container, { zoomSnap: 0.25, attributionControl: false, minZoom: 9, maxZoom: 17 });
  map.fitBounds([[40.02, 113.18], [40.13, 113.32]]);
  map.createPane('streets');
  map.getPane('streets').style.zIndex = 450;
  map.getPane('streets').style.pointerEvents = 'none';
}

function renderLegend(legend, max) {
  const colours = max <= 1 ? [SCALE[2]] : SCALE;
  legend.replaceChildren(el('span', {}, '每网格工单数'), el('span', {}, '1'),
    el('span', { className: 'db-ramp' }, colours.map((c) => el('i', { style: `background:${c}` }))),
    el('span', {}, String(Math.max(max, 1))),
    el('span', { className: 'db-swatch' }, el('b', { className: 'db-dot' }), '圆点大小＝件数'));
}

/** Draw `cells` ([{grid_code, count}] from api/stats/heat) in `container`; returns {grids, max, total}. */
export async function drawHeat(container, legend, cells) {
  if (!L) throw new Error('地图组件缺失（node_modules/leaflet）');
  ensureMap(container);
  const counts = new Map();
  let total = 0;
  for (const c of cells) {
    const n = Number(c.count) || 0;
    if (!c.grid_code || n <= 0) continue;
    counts.set(c.grid_code, (counts.get(c.grid_code) || 0) + n);
    total += n;
  }
  const max = Math.max(0, ...counts.values());
  const [grids, streets] = await loadOutlines();
  gridLayer?.remove();
  gridLayer = L.geoJSON(grids, {
    style: (f) => {
      const n = counts.get(f.properties?.code) || 0;
      const fill = colour(n, max);
      return {
        color: fill ? '#a61e4d' : '#b8c4d2', weight: fill ? 0.8 : 0.3, opacity: 0.8,
        fillColor: fill || '#ffffff', fillOpacity: fill ? 0.85 : 0.25,
      };
    },
    onEachFeature: (f, layer) => {
      const n = counts.get(f.properties?.code) || 0;
      const label = document.createElement('span'); // text, never HTML: names come from imports
      label.textContent = `${f.properties?.name || f.properties?.code}：${n} 件`;
      layer.bindTooltip(label, { sticky: true });
    },
  }).addTo(map);
  // Grids are small at district zoom: a circle per grid with tickets makes the hot spots visible.
  dotLayer?.remove();
  dotLayer = L.layerGroup();
  gridLayer.eachLayer((layer) => {
    const code = layer.feature?.properties?.code;
    const n = counts.get(code) || 0;
    if (!n) return;
    L.circleMarker(layer.getBounds().getCenter(), {
      pane: 'streets', interactive: false, radius: 6 + 14 * Math.sqrt(n / max),
      color: '#7a2e0b', weight: 1, fillColor: colour(n, max), fillOpacity: 0.9,
    }).addTo(dotLayer);
  });
  dotLayer.addTo(map);
  if (!streetLayer) {
    streetLayer = L.geoJSON(streets, {
      pane: 'streets', interactive: false,
      style: { color: '#1b447a', weight: 1.6, opacity: 0.9, fill: false },
    }).addTo(map);
    const bounds = streetLayer.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24] });
  }
  renderLegend(legend, max);
  container.dataset.grids = String(counts.size);
  container.dataset.max = String(max);
  container.dataset.total = String(total);
  return { grids: counts.size, max, total };
}

export function resizeHeat() {
  map?.invalidateSize();
}
