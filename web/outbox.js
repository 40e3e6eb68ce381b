// The phone's outbox: every patrol report is first written to IndexedDB, then sent.
//
// A report keeps its `client_ref` (idempotency key, made when the report is created) for
// life, so a resend after a lost answer, a crash or a second tab returns the first ticket
// (the server answers 200 with it) instead of creating another. Only one sync runs at a
// time per browser (Web Locks where available, plus an in-page promise).
//
// Record: {client_ref, owner, created_at, fields (incl. self_resolved), photos: [{blob, name}], status,
//          attempts, last_error, ticket_id, ticket_number, ticket_state, sent_at}
// status: 'pending' (待发送) → 'sent' (已发送) | 'failed' (rejected by the server: 4xx).
// An answer to a field check (核实/核查) is a record too, with kind 'answer', its `task_id` and
// fields {answer, note}: it waits and is sent in the same order, keyed by its own client_ref.

import { ApiError, apiFetch } from './api.js';

const DB_NAME = 'gridDispatch.officer';
const DB_VERSION = 1;
const STORE = 'outbox';
const LOCK_NAME = 'gridDispatch.outbox';
const SENT_KEEP_MS = 3 * 24 * 3600 * 1000; // sent reports stay listed locally this long

let dbPromise = null;

function requestResult(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const store = request.result.createObjectStore(STORE, { keyPath: 'client_ref' });
        store.createIndex('owner', 'owner');
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => {
        dbPromise = null;
        reject(request.error);
      };
    });
  }
  return dbPromise;
}

async function withStore(mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    let result;
    Promise.resolve(fn(tx.objectStore(STORE))).then((value) => { result = value; }, reject);
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

/** A random idempotency key (URL-safe, 32 chars), accepted by the server's ^[A-Za-z0-9_-]{8,64}$. */
export function newClientRef() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Durably store a new report (status pending). Resolves once IndexedDB committed it. */
export function saveReport(record) {
  const full = {
    status: 'pending', attempts: 0, last_error: '', ticket_id: null, ticket_number: null,
    ticket_state: null, sent_at: null, ...record,
  };
  return withStore('readwrite', (store) => { store.put(full); }).then(() => full);
}

function putReport(record) {
  return withStore('readwrite', (store) => { store.put(record); });
}

export function deleteReport(clientRef) {
  return withStore('readwrite', (store) => { store.delete(clientRef); });
}

/** The owner's reports, newest first. */
export async function listReports(owner) {
  const rows = await withStore('readonly', (store) => requestResult(store.index('owner').getAll(owner)));
  return (rows || []).sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

export async function countPending(owner) {
  return (await listReports(owner)).filter((r) => r.status === 'pending').length;
}

/** Drop sent reports older than SENT_KEEP_MS (the server's list has them). */
export async function pruneSent(owner, now = Date.now()) {
  for (const r of await listReports(owner)) {
    if (r.status === 'sent' && r.sent_at && now - Date.parse(r.sent_at) > SENT_KEEP_MS) {
      await deleteReport(r.client_ref);
    }
  }
}

function formFor(record) {
  const data = new FormData();
  const f = record.fields;
  data.set('lon', String(f.lon));
  data.set('lat', String(f.lat));
  data.set('category_code', f.category_code);
  data.set('description', f.description);
  data.set('urgency', f.urgency || 'normal');
  data.set('address', f.address || '');
  data.set('client_ref', record.client_ref);
  if (f.self_resolved) data.set('self_resolved', 'true'); // 自行处置: closed at intake, part of the queued report
  (record.photos || []).forEach((p, i) => {
    data.append('photos', p.blob, p.name || `photo-${i + 1}.jpg`);
  });
  return data;
}

function answerFor(record) {
  const data = new FormData();
  data.set('answer', record.fields.answer);
  data.set('note', record.fields.note || '');
  data.set('client_ref', record.client_ref);
  (record.photos || []).forEach((p, i) => {
    data.append('photos', p.blob, p.name || `photo-${i + 1}.jpg`);
  });
  return data;
}

/** Where a record goes and what the server's answer says about its ticket. */
async function send(record) {
  if (record.kind === 'answer') {
    const card = await apiFetch(`api/verifications/${record.task_id}/answer`, {
      method: 'POST', formData: answerFor(record),
    });
    return { ticket_id: card.ticket?.id, number: card.ticket?.number, state: card.ticket?.state };
  }
  return apiFetch('api/intake/patrol', { method: 'POST', formData: formFor(record) });
}

/** True when waiting can help: no network, server busy or failing. */
function isTransient(err) {
  return !(err instanceof ApiError) || err.status === 0 || err.status === 408
    || err.status === 429 || err.status >= 500;
}

async function sendPending(owner, onChange) {
  const result = { sent: 0, failed: 0, pending: 0, offline: false };
  const pending = (await listReports(owner)).filter((r) => r.status === 'pending').reverse(); // oldest first
  for (let i = 0; i < pending.length; i += 1) {
    const record = pending[i];
    record.attempts += 1;
    try {
      const receipt = await send(record);
      Object.assign(record, {
        status: 'sent', last_error: '', ticket_id: receipt.ticket_id,
        ticket_number: receipt.number, ticket_state: receipt.state, sent_at: new Date().toISOString(),
        photos: [], // the server has them now; free the phone's storage
      });
      result.sent += 1;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        await putReport(record);
        throw err; // session over: the caller shows the login; the report stays pending
      }
      if (isTransient(err)) {
        record.last_error = err.message || String(err);
        await putReport(record);
        result.offline = !(err instanceof ApiError) || err.status === 0;
        result.pending = pending.length - i;
        onChange?.();
        return result; // try again later, in the same order
      }
      record.status = 'failed';
      record.last_error = err.message || String(err);
      result.failed += 1;
    }
    await putReport(record);
    onChange?.();
  }
  return result;
}

let running = null;

/**
 * Send the owner's pending reports, oldest first; one sync at a time (a second call while
 * one runs joins it). Resolves with {sent, failed, pending, offline}; rejects with the 401 ApiError.
 */
export function syncOutbox(owner, { onChange } = {}) {
  if (running) return running;
  const work = () => sendPending(owner, onChange);
  const locked = navigator.locks?.request
    ? navigator.locks.request(LOCK_NAME, work)
    : work();
  running = locked.finally(() => { running = null; });
  return running;
}
