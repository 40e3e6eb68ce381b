// A searchable category combobox (WAI-ARIA combobox + listbox) for keyboard-first entry.
// Typing filters 小类 (by name, code or 大类 name); ↑/↓ move; Enter or Tab picks the
// highlighted option; Esc closes. Enter with the list closed submits the form as usual.

import { filterGroups } from './categories.js';

export class CategoryCombo {
  constructor(input, listbox) {
    this.input = input;
    this.listbox = listbox;
    this.groups = [];
    this.options = []; // flat, in display order: {code, name, parentName}
    this.active = -1;
    this.value = '';
    input.addEventListener('input', () => {
      this.value = ''; // typed text no longer names the picked category
      this.input.dataset.code = '';
      this.open();
    });
    input.addEventListener('focus', () => { if (!this.value) this.open(); });
    input.addEventListener('blur', () => this.close());
    input.addEventListener('keydown', (e) => this.onKey(e));
    listbox.addEventListener('mousedown', (e) => {
      const li = e.target.closest('[role="option"]');
      if (!li) return;
      e.preventDefault(); // keep the focus in the input
      this.pick(Number(li.dataset.index));
    });
  }

  setGroups(groups) {
    this.groups = groups;
    if (!this.listbox.hidden) this.render();
  }

  get isOpen() {
    return !this.listbox.hidden;
  }

  open() {
    this.render();
    this.listbox.hidden = this.options.length === 0 && !this.input.value;
    this.input.setAttribute('aria-expanded', String(!this.listbox.hidden));
  }

  close() {
    this.listbox.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  clear() {
    this.value = '';
    this.input.value = '';
    this.input.dataset.code = '';
    this.close();
  }

  render() {
    const groups = filterGroups(this.groups, this.input.value);
    this.options = [];
    const items = [];
    for (const group of groups) {
      const head = document.createElement('li');
      head.setAttribute('role', 'presentation');
      head.className = 'h-option-group';
      head.textContent = `${group.code} ${group.name}`;
      items.push(head);
      for (const c of group.children) {
        const li = document.createElement('li');
        li.setAttribute('role', 'option');
        li.id = `category-option-${c.code}`;
        li.dataset.index = String(this.options.length);
        li.dataset.code = c.code;
        li.dataset.testid = 'category-option';
        li.innerHTML = '<span></span><small></small>';
        li.firstChild.textContent = c.name;
        li.lastChild.textContent = c.code;
        this.options.push(c);
        items.push(li);
      }
    }
    if (!this.options.length) {
      const none = document.createElement('li');
      none.className = 'h-option-none';
      none.textContent = '没有匹配的类别';
      items.push(none);
    }
    this.listbox.replaceChildren(...items);
    this.setActive(this.options.length ? 0 : -1);
  }

  setActive(index) {
    this.active = index;
    for (const li of this.listbox.querySelectorAll('[role="option"]')) {
      const on = Number(li.dataset.index) === index;
      li.setAttribute('aria-selected', String(on));
      if (on) li.scrollIntoView({ block: 'nearest' });
    }
    if (index >= 0) this.input.setAttribute('aria-activedescendant', `category-option-${this.options[index].code}`);
    else this.input.removeAttribute('aria-activedescendant');
  }

  pick(index) {
    const c = this.options[index];
    if (!c) return;
    this.value = c.code;
    this.input.dataset.code = c.code;
    this.input.value = c.code.length <= 2 ? c.name : `${c.name}（${c.parentName} · ${c.code}）`;
    this.close();
    this.onPick?.(c);
  }

  onKey(e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!this.isOpen) this.open();
      const n = this.options.length;
      if (!n) return;
      const step = e.key === 'ArrowDown' ? 1 : -1;
      this.setActive((this.active + step + n) % n);
    } else if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey && this.isOpen && this.active >= 0) {
      e.preventDefault(); // pick, do not submit
      this.pick(this.active);
    } else if (e.key === 'Tab' && this.isOpen && this.active >= 0 && this.input.value && !this.value) {
      this.pick(this.active); // focus moves on as usual
    } else if (e.key === 'Escape' && this.isOpen) {
      e.preventDefault();
      this.close();
    }
  }
}
