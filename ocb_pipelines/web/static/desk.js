// The review desk's only script besides htmx: the light/dark switch (the system's choice until it is used)
// and drag-and-drop on the import form. Every form works without it.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("ocb-theme"); } catch (e) { saved = null; }
  if (saved === "light" || saved === "dark") { root.setAttribute("data-theme", saved); }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-switch");
    if (button) {
      var label = function () {
        var dark = root.getAttribute("data-theme") === "dark" ||
          (root.getAttribute("data-theme") === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
        button.textContent = dark ? "Light mode" : "Dark mode";
        button.setAttribute("aria-pressed", dark ? "true" : "false");
        return dark;
      };
      button.hidden = false;
      label();
      button.addEventListener("click", function () {
        var next = label() ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("ocb-theme", next); } catch (e) { /* private mode: this page only */ }
        label();
      });
    }
    document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      var input = zone.querySelector("input[type=file]");
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("over"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        if (input && event.dataTransfer && event.dataTransfer.files.length) { input.files = event.dataTransfer.files; }
      });
    });
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name=ids]").forEach(function (c) { c.checked = box.checked; });
      });
    });
  });
})();
