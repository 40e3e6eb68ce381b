// Service worker of the grid officer's app (registered with scope "officer", so it never
// touches the console or the hotline desk). It keeps the app shell, the map outlines and
// the categories on the phone so the report form opens and works without a network.
// Reports themselves never go through here: the page's outbox (IndexedDB) sends them.

const VERSION = 'officer-v4';
const SHELL = [
  'officer.html',
  'officer.css',
  'officer.js',
  'officer-report.js',
  'officer-map.js',
  'officer-tasks.js',
  'outbox.js',
  'photos.js',
  'categories.js',
  'api.js',
  'labels.js',
  'manifest.webmanifest',
  'icons/icon.svg',
  'icons/icon-192.png',
  'node_modules/leaflet/dist/leaflet.js',
  'node_modules/leaflet/dist/leaflet.css',
];
// Read-only API data the form needs offline; answered from the network when there is one.
// The field checks and their photos too, so a task opened once can be done without a network.
const API_CACHED = [
  /\/api\/grids\b/, /\/api\/categories\b/, /\/api\/verifications\b/, /\/api\/tickets\/\d+\/attachments\//,
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(VERSION).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== VERSION) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

/** Network first, the cached copy when offline (and refresh the copy when online). */
async function networkFirst(request, cacheKey = request) {
  const cache = await caches.open(VERSION);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(cacheKey, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(cacheKey, { ignoreSearch: false });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return; // reports (POST) go straight to the network
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.includes('/api/')) {
    if (API_CACHED.some((re) => re.test(url.pathname))) {
      event.respondWith(networkFirst(request, url.href));
    }
    return; // tickets, auth …: always live
  }
  if (request.mode === 'navigate') {
    event.respondWith(networkFirst(request, new URL('officer.html', self.registration.scope).href));
    return;
  }
  event.respondWith(networkFirst(request));
});
