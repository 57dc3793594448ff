// Small helpers for the management interface. Every action also works
// without them: forms post, links navigate, pop-ups are pages of their own.
(function () {
  "use strict";

  // Forms that delete ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // A header checkbox selects every row checkbox of its table; unticking
  // any of them unticks the boxes that stand for "all" (so a form never
  // sends all=1 for a selection the user has narrowed).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches("input[type=checkbox]")) return;
    var group = box.getAttribute("data-select-all");
    if (group) {
      document.querySelectorAll('input[type=checkbox][name="' + group + '"]').forEach(function (item) {
        item.checked = box.checked;
      });
    }
    if (!box.checked) {
      document.querySelectorAll('input[data-select-all="' + (group || box.name) + '"]').forEach(function (other) {
        if (other !== box) other.checked = false;
      });
    }
  });

  // An open menu (details.menu) closes on a click elsewhere, and on Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    var menu = event.key === "Escape" && event.target.closest && event.target.closest("details.menu[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  // Pop-ups: a page of the interface shown over the current one.
  var dialog = null;
  function popup(url) {
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "popup";
      dialog.setAttribute("aria-label", "Details");
      var bar = document.createElement("div");
      bar.className = "popup-bar";
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      close.addEventListener("click", function () { dialog.close(); });
      bar.appendChild(close);
      var body = document.createElement("div");
      body.className = "popup-body";
      dialog.appendChild(bar);
      dialog.appendChild(body);
      document.body.appendChild(dialog);
    }
    var body = dialog.querySelector(".popup-body");
    body.textContent = "Loading…";
    if (!dialog.open) dialog.showModal();
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var main = parsed.querySelector("main");
        body.replaceChildren.apply(body, main ? Array.from(main.childNodes) : [document.createTextNode("Nothing to show.")]);
      })
      .catch(function () { body.textContent = "The page could not be loaded."; });
  }

  // a[data-popup] opens in a pop-up; a[data-in-popup] (paging inside a
  // pop-up's page) stays in the pop-up when it is in one, else navigates.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-popup], a[data-in-popup]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (link.hasAttribute("data-popup") || link.closest("dialog.popup")) {
      event.preventDefault();
      popup(link.href);
    }
  });
  // button[data-open-selected="name"] opens the row of the first ticked
  // checkbox of that name in a pop-up; without one (or without JavaScript)
  // the form posts and the server answers.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-open-selected]");
    if (!button || !button.form) return;
    var name = button.getAttribute("data-open-selected");
    var box = button.form.querySelector('input[type=checkbox][name="' + name + '"]:checked');
    var row = box && box.closest("tr[data-open]");
    if (row) {
      event.preventDefault();
      popup(row.getAttribute("data-open"));
    }
  });
  // Double-click a row, or press Enter on it, to open it.
  document.addEventListener("dblclick", function (event) {
    var row = event.target.closest("tr[data-open]");
    if (row && !event.target.closest("input, button, a")) popup(row.getAttribute("data-open"));
  });
  document.addEventListener("keydown", function (event) {
    var row = event.target.closest && event.target.closest("tr[data-open]");
    if (row && event.key === "Enter" && event.target === row) {
      event.preventDefault();
      popup(row.getAttribute("data-open"));
    }
  });
  // The ticket workspace ([data-heartbeat]): polls the heartbeat at the
  // Heartbeat Interval it answers with (Diagnostics > Options), updates the
  // tree's counts ([data-count]) in place, and shows a reminder for each
  // follow-up when it falls due, once per browser (remembered in
  // localStorage, so another tab or a reload does not show it again).
  var SHOWN_KEY = "stws.reminders.shown";
  function shownReminders() {
    try { return JSON.parse(window.localStorage.getItem(SHOWN_KEY) || "[]"); } catch (e) { return []; }
  }
  function rememberShown(key) {
    var shown = shownReminders().filter(function (item) { return item !== key; });
    shown.push(key);
    try { window.localStorage.setItem(SHOWN_KEY, JSON.stringify(shown.slice(-200))); } catch (e) { /* private mode */ }
  }

  // An open ticket page ([data-live-ticket]) follows its ticket: the
  // heartbeat answers the ticket's version; when it changed, the page's
  // parts ([data-live], see admin/ticket.html) are fetched from the server
  // and replaced in place. A part with a form the agent has touched (typed,
  // chose, or is in) is kept as it is, with the version it was begun at:
  // sending it after someone else's change is refused by the server
  // ("changed by X meanwhile", the entry kept), never an overwrite of what
  // the agent has not seen. New entries of the conversation are marked.
  function followTicket(page) {
    var version = page.getAttribute("data-version");
    var since = version; // what changed is listed from here (the page's version, or the last dismissal)
    var liveUrl = page.getAttribute("data-live-url");
    var fetching = false;
    var gone = false;

    function touch(event) {
      var form = event.target.closest && event.target.closest("form");
      if (form) form.setAttribute("data-touched", "");
    }
    page.addEventListener("input", touch);
    page.addEventListener("change", touch);
    page.addEventListener("click", function (event) {
      var button = event.target.closest("[data-dismiss-changes]");
      if (!button) return;
      since = version;
      button.closest(".notice").remove();
    });

    function isTouched(form) {
      var active = document.activeElement;
      return form.hasAttribute("data-touched") || (!!active && form.contains(active) &&
        active.matches("textarea, select, input:not([type=hidden]):not([type=submit]):not([type=button])"));
    }
    function touchedForms(part) {
      return Array.prototype.filter.call(part.querySelectorAll("form"), isTouched);
    }
    function markStale(form) {
      if (form.querySelector(".stale-note")) return;
      var note = document.createElement("p");
      note.className = "stale-note";
      note.setAttribute("role", "status");
      note.textContent = "The ticket changed after you began this. What you entered is kept; sending it shows " +
        "you the ticket as it is now first, then you send again.";
      form.insertBefore(note, form.firstChild);
    }
    var NEW_LABELS = { "entry-in": "New reply from the customer", "entry-out": "New reply", "entry-note": "New note" };
    function markNewEntries(part, next) {
      var seen = {};
      part.querySelectorAll("article.entry").forEach(function (entry) {
        seen[entry.id] = entry.classList.contains("entry-new") ? entry.querySelector(".entry-new-marker") : true;
      });
      next.querySelectorAll("article.entry").forEach(function (entry) {
        var before = seen[entry.id];
        if (before === true) return;
        var marker = before ? before.cloneNode(true) : document.createElement("span");
        if (!before) {
          marker.className = "entry-new-marker";
          var kind = Object.keys(NEW_LABELS).filter(function (name) { return entry.classList.contains(name); })[0];
          marker.textContent = NEW_LABELS[kind] || "New";
        }
        entry.classList.add("entry-new");
        var head = entry.querySelector(".entry-head");
        if (head) head.insertBefore(marker, head.firstChild);
      });
    }
    function keepOpenPanels(part, next) {
      var nextPanels = next.querySelectorAll("details");
      part.querySelectorAll("details").forEach(function (panel, index) {
        if (nextPanels[index]) nextPanels[index].open = panel.open;
      });
    }

    function apply(html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-ticket]");
      if (!fresh) return;
      page.querySelectorAll("[data-live]").forEach(function (part) {
        var next = fresh.querySelector('[data-live="' + part.getAttribute("data-live") + '"]');
        if (!next) return;
        var kept = touchedForms(part);
        if (kept.length) {
          kept.forEach(markStale);
          return;
        }
        keepOpenPanels(part, next);
        markNewEntries(part, next);
        if (part.hasAttribute("role")) {
          // A live region (what changed) stays the same element, so screen readers announce its new content.
          part.replaceChildren.apply(part, Array.from(document.adoptNode(next).childNodes));
        } else {
          part.replaceWith(document.adoptNode(next));
        }
      });
      version = fresh.getAttribute("data-version");
      page.setAttribute("data-version", version);
    }

    function showGone() {
      gone = true;
      var region = page.querySelector('[data-live="changes"]');
      var notice = document.createElement("p");
      notice.className = "notice error";
      notice.textContent = "This ticket was deleted, or moved where you cannot see it.";
      region.replaceChildren(notice);
    }

    // current: the version the heartbeat answered (null: gone).
    return function follow(current) {
      if (gone || fetching) return;
      if (current === null) { showGone(); return; }
      if (current === version) return;
      fetching = true;
      fetch(liveUrl + "&since=" + encodeURIComponent(since),
            { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.status === 404) { showGone(); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) { if (html) apply(html); })
        .catch(function () { /* the next heartbeat tries again */ })
        .then(function () { fetching = false; });
    };
  }

  function startWorkspace(root) {
    var url = root.getAttribute("data-heartbeat");
    var ticketPage = root.querySelector("[data-live-ticket]");
    var follow = ticketPage ? followTicket(ticketPage) : null;
    if (ticketPage) url += "?ticket=" + encodeURIComponent(ticketPage.getAttribute("data-live-ticket"));
    var ticketUrl = root.getAttribute("data-ticket-url");
    var region = root.querySelector(".reminders");
    var interval = Math.max(1, parseInt(root.getAttribute("data-interval"), 10) || 10);
    var scheduled = {};

    function showReminder(reminder, key) {
      if (shownReminders().indexOf(key) !== -1) return;
      rememberShown(key);
      var notice = document.createElement("div");
      notice.className = "reminder";
      var text = document.createElement("p");
      text.appendChild(document.createTextNode("Follow-up due: "));
      var link = document.createElement("a");
      link.href = ticketUrl + "?number=" + encodeURIComponent(reminder.ticket_number);
      link.textContent = reminder.ticket_number;
      text.appendChild(link);
      text.appendChild(document.createTextNode(" " + (reminder.subject || "")));
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.textContent = "Dismiss";
      dismiss.addEventListener("click", function () { notice.remove(); });
      notice.appendChild(text);
      notice.appendChild(dismiss);
      region.appendChild(notice);
    }

    function schedule(reminder) {
      var key = reminder.ticket_number + "@" + reminder.due_utc;
      if (scheduled[key] || shownReminders().indexOf(key) !== -1) return;
      scheduled[key] = true;
      window.setTimeout(function () { showReminder(reminder, key); }, reminder.due_in_ms);
    }

    // The list of a tree node is reloaded (this page's URL, its list part
    // only) when that node's count changes: new tickets show without a reload.
    var list = root.querySelector("[data-list]");
    function refreshList() {
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-list]");
          if (fresh && list.isConnected) {
            list.replaceWith(fresh);
            list = fresh;
          }
        })
        .catch(function () { /* the next change tries again */ });
    }

    function update(answer) {
      if (answer.interval_seconds) interval = Math.max(1, answer.interval_seconds);
      var node = list && list.getAttribute("data-list");
      Object.keys(answer.counts || {}).forEach(function (key) {
        root.querySelectorAll('[data-count="' + key + '"]').forEach(function (element) {
          var text = answer.counts[key].toLocaleString("en-US");
          if (element.textContent !== text) {
            element.textContent = text;
            if (key === node && element.closest("nav.tree")) refreshList();
          }
        });
      });
      (answer.reminders || []).forEach(schedule);
      if (follow && answer.ticket) follow(answer.ticket.version);
    }

    function beat() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (response.status === 401) throw new Error("signed out");
          return response.ok ? response.json() : null;
        })
        .then(function (answer) {
          if (answer) update(answer);
          window.setTimeout(beat, interval * 1000);
        })
        .catch(function (error) {
          // Signed out (the session ended): stop; a network error: try again later.
          if (error.message !== "signed out") window.setTimeout(beat, interval * 1000);
        });
    }
    beat();
  }
  document.querySelectorAll("[data-heartbeat]").forEach(startWorkspace);
})();

// A file larger than the server takes is refused before it is sent (the
// server refuses it too, with the same limit: data-max-bytes).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var limit = Number(input.getAttribute("data-max-bytes"));
    var file = input.files && input.files[0];
    if (file && file.size > limit) {
      input.setCustomValidity("The file is " + file.size.toLocaleString("en") + " bytes; attachments may have at most " +
                              limit.toLocaleString("en") + " bytes.");
    } else {
      input.setCustomValidity("");
    }
    input.reportValidity();
  });
})();

// The new ticket form (form[data-fields-url]): the custom fields depend on
// the department, the customer and fields the provider looks up
// ([data-lookup]); when one of them changes, the fields are asked again
// and the server's rendering of them replaces the old one. Without script
// the form's "Update the custom fields" button does the same.
(function () {
  "use strict";
  var form = document.querySelector("form[data-fields-url]");
  if (!form) return;
  // Removed, not hidden: Enter in a field must create, not refresh.
  form.querySelectorAll("[data-refresh-fields]").forEach(function (element) { element.remove(); });
  var latest = 0;
  // What was typed while the fields were being asked for is newer than
  // what was sent: it is carried over to the fresh fields (a list value
  // only if the fresh list still offers it).
  function carryOver(old, fresh) {
    old.querySelectorAll("[name^='field:']:not([type=hidden])").forEach(function (input) {
      var twin = fresh.querySelector('[name="' + CSS.escape(input.name) + '"]:not([type=hidden])');
      if (!twin) return;
      if (input.type === "checkbox") {
        twin.checked = input.checked;
      } else if (twin.tagName !== "SELECT" ||
                 Array.prototype.some.call(twin.options, function (option) { return option.value === input.value; })) {
        twin.value = input.value;
      }
    });
  }
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name !== "department_id" && input.name !== "email" && !input.hasAttribute("data-lookup")) return;
    var query = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name === "department_id" || name === "email" || name.indexOf("field:") === 0) query.append(name, value);
    });
    var asked = ++latest;
    form.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("data-fields-url") + "?" + query.toString(),
          { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (asked !== latest) return;  // a later change asked again
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("custom-fields");
        var current = document.getElementById("custom-fields");
        if (!fresh) return;
        fresh = document.adoptNode(fresh);
        carryOver(current, fresh);
        current.replaceWith(fresh);
      })
      .catch(function () {
        if (asked !== latest) return;
        var fields = document.getElementById("custom-fields");
        var note = document.createElement("p");
        note.className = "notice error";
        note.setAttribute("role", "alert");
        note.textContent = "The custom fields could not be updated; they are checked when the ticket is created.";
        fields.insertBefore(note, fields.firstChild);
      })
      .finally(function () {
        if (asked === latest) {
          form.removeAttribute("aria-busy");
          form.setAttribute("data-fields-asked", String(asked));
        }
      });
  });
})();
