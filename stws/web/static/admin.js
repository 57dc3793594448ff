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

  // A header checkbox selects every row checkbox of its table.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches("input[data-select-all]")) return;
    var name = box.getAttribute("data-select-all");
    document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (item) {
      item.checked = box.checked;
    });
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
})();
