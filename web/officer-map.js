// The officer's report map: street and grid outlines (no tiles: intranets have none),
// the report position as a draggable pin, the GPS accuracy circle, and the grid the pin is in.
// Leaflet is loaded as a classic script before the modules (global `L`).

import { getJSON } from './api.js';

const L = window.L;
const DISTRICT_BOUNDS = [[40.02, 113.18], [40.13, 113.32]]; // 平城区 frame until outlines load
const REPORT_ZOOM = 16;

function ringContains(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function polygonContains(rings, x, y) {
  if (!rings.length || !ringContains(rings[0], x, y)) return false;
  return !rings.slice(1).some((hole) => ringContains(hole, x, y));
}

/** Whether a GeoJSON Polygon/MultiPolygon geometry contains lon/lat. */
export function geometryContains(geometry, lon, lat) {
  if (!geometry) return false;
  if (geometry.type === 'Polygon') return polygonContains(geometry.coordinates, lon, lat);
  if (geometry.type === 'MultiPolygon') {
    return geometry.coordinates.some((rings) => polygonContains(rings, lon, lat));
  }
  return false;
}

export class ReportMap {
  /** `onMove({lat, lon, grid})` is called whenever the pin moves (GPS, drag or tap). */
  constructor(element, { onMove }) {
    this.onMove = onMove;
    this.gridFeatures = [];
    this.gridLayers = new Map(); // code → layer
    this.highlighted = null;
    this.map = L.map(element, {
      zoomSnap: 0.5, minZoom: 10, maxZoom: 19, attributionControl: false, tap: true,
    });
    this.map.fitBounds(DISTRICT_BOUNDS);
    L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(this.map);
    this.renderer = L.canvas({ padding: 0.3, tolerance: 3 });
    this.accuracy = L.circle(this.map.getCenter(), {
      radius: 0, color: '#1d6fd6', weight: 1, fillOpacity: 0.08, interactive: false,
    });
    this.pin = L.marker(this.map.getCenter(), {
      draggable: true,
      autoPan: true,
      keyboard: true,
      title: '上报位置（可拖动）',
      icon: L.divIcon({
        className: 'report-pin',
        html: '<svg width="34" height="44" viewBox="0 0 34 44" aria-hidden="true">'
          + '<path d="M17 42.5C17 42.5 3 26 3 16a14 14 0 1 1 28 0c0 10-14 26.5-14 26.5z"'
          + ' fill="#f08c00" stroke="#fff" stroke-width="2.5"/><circle cx="17" cy="16" r="5" fill="#fff"/></svg>',
        iconSize: [34, 44], iconAnchor: [17, 42.5], // the tip of the pin is the position
      }),
    });
    this.hasPosition = false;
    this.pin.on('dragend', () => this.moveTo(this.pin.getLatLng(), { source: 'drag' }));
    this.map.on('click', (e) => this.moveTo(e.latlng, { source: 'tap' }));
  }

  /** Load street and grid outlines; resolves when drawn (failures only make the map plainer). */
  async loadOutlines() {
    const [streets, grids] = await Promise.all([
      getJSON('api/grids?level=street').catch(() => null),
      getJSON('api/grids?level=grid').catch(() => null),
    ]);
    if (streets) {
      L.geoJSON(streets, {
        renderer: this.renderer, interactive: false,
        style: { color: '#2c5a8c', weight: 2, opacity: 0.8, fillColor: '#e8eef6', fillOpacity: 0.5 },
      }).addTo(this.map);
    }
    if (grids) {
      this.gridFeatures = grids.features || [];
      L.geoJSON(grids, {
        renderer: this.renderer, interactive: false,
        style: { color: '#7f97b5', weight: 0.8, opacity: 0.9, fillOpacity: 0 },
        onEachFeature: (feature, layer) => this.gridLayers.set(feature.properties?.code, layer),
      }).addTo(this.map);
    }
    if (this.hasPosition) this.moveTo(this.pin.getLatLng(), { source: 'refresh', pan: false });
    return Boolean(streets || grids);
  }

  /** The grid feature containing lat/lon, or null. */
  gridAt(lat, lon) {
    for (const f of this.gridFeatures) {
      if (geometryContains(f.geometry, lon, lat)) return f.properties || null;
    }
    return null;
  }

  /** A GPS fix: move the pin there (unless the officer dragged it since) and show its accuracy. */
  setGpsFix(coords, { force = false } = {}) {
    const latlng = L.latLng(coords.latitude, coords.longitude);
    this.accuracy.setLatLng(latlng).setRadius(coords.accuracy || 0);
    if (!this.map.hasLayer(this.accuracy)) this.accuracy.addTo(this.map);
    if (this.adjusted && !force) return;
    this.moveTo(latlng, { source: 'gps' });
    this.map.setView(latlng, Math.max(this.map.getZoom(), REPORT_ZOOM));
  }

  moveTo(latlng, { source, pan = source === 'tap' } = {}) {
    this.hasPosition = true;
    if (source === 'drag' || source === 'tap') this.adjusted = true;
    this.pin.setLatLng(latlng);
    if (!this.map.hasLayer(this.pin)) this.pin.addTo(this.map);
    if (pan) this.map.panTo(latlng);
    const grid = this.gridAt(latlng.lat, latlng.lng);
    this.highlight(grid?.code);
    this.onMove?.({ lat: latlng.lat, lon: latlng.lng, grid, source });
  }

  highlight(code) {
    if (this.highlighted) this.highlighted.setStyle({ color: '#7f97b5', weight: 0.8, fillOpacity: 0 });
    this.highlighted = code ? this.gridLayers.get(code) : null;
    if (this.highlighted) {
      this.highlighted.setStyle({ color: '#d9480f', weight: 2.5, fillColor: '#ffa94d', fillOpacity: 0.18 });
      this.highlighted.bringToFront();
    }
  }

  /** Forget a manual adjustment (new report): the next GPS fix moves the pin again. */
  reset() {
    this.adjusted = false;
  }

  invalidate() {
    this.map.invalidateSize();
  }
}
