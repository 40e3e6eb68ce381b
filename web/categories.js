// Event categories (大类 / 小类) for pickers: load once, group 小类 under 大类, search.
//
// GET api/categories answers [{code, name, parent_code, ...}]; a 大类 has parent_code null.
// Intake accepts a 大类 code too, but pickers offer 小类 first; a 大类 without 小类 is offered itself.

import { getJSON } from './api.js';

let cache = null;

/** The active categories grouped: [{code, name, children: [{code, name, parentName}]}]. */
export async function loadCategoryGroups() {
  if (!cache) {
    cache = getJSON('api/categories')
      .then(groupCategories)
      .catch((err) => {
        cache = null;
        throw err;
      });
  }
  return cache;
}

export function groupCategories(rows) {
  const groups = new Map();
  const list = Array.isArray(rows) ? rows : [];
  for (const c of list) {
    if (!c.parent_code) groups.set(c.code, { code: c.code, name: c.name, children: [] });
  }
  for (const c of list) {
    if (!c.parent_code) continue;
    const group = groups.get(c.parent_code);
    if (group) group.children.push({ code: c.code, name: c.name, parentName: group.name });
  }
  for (const group of groups.values()) {
    if (!group.children.length) {
      group.children.push({ code: group.code, name: group.name, parentName: group.name });
    }
  }
  return [...groups.values()].sort((a, b) => a.code.localeCompare(b.code));
}

/** Groups with only the 小类 matching `query` (name, code or its 大类's name); all if empty. */
export function filterGroups(groups, query) {
  const q = String(query || '').trim().toLowerCase();
  if (!q) return groups;
  const out = [];
  for (const group of groups) {
    const groupHit = group.name.toLowerCase().includes(q) || group.code.startsWith(q);
    const children = groupHit ? group.children : group.children.filter(
      (c) => c.name.toLowerCase().includes(q) || c.code.startsWith(q),
    );
    if (children.length) out.push({ ...group, children });
  }
  return out;
}

/** "06 市容环境 › 06010 暴露垃圾" style label of a code, or the code itself. */
export function categoryLabel(groups, code) {
  for (const group of groups || []) {
    for (const c of group.children) {
      if (c.code === code) return c.code === group.code ? c.name : `${group.name} › ${c.name}`;
    }
  }
  return code || '';
}
