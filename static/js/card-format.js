// Card field formatting while typing (groups of four, MM/YY). Cosmetic only: every check happens
// on the server (payments.cards.validate_card); the page works the same without this file.
(function () {
  "use strict";
  function digits(value) { return value.replace(/\D+/g, ""); }
  function formatNumber(input) {
    var d = digits(input.value).slice(0, 19);
    input.value = d.replace(/(\d{4})(?=\d)/g, "$1 ");
  }
  function formatExpiry(input, event) {
    var d = digits(input.value).slice(0, 4);
    if (event && event.inputType === "deleteContentBackward") { input.value = input.value; return; }
    if (d.length === 1 && d > "1") { d = "0" + d; }
    input.value = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : (d.length === 2 ? d + "/" : d);
  }
  function formatCvc(input) { input.value = digits(input.value).slice(0, 4); }
  function toggleCardFields(form) {
    var box = form.querySelector("[data-card-fields]");
    var checked = form.querySelector("input[type=radio][name$='method']:checked");
    if (box && checked) { box.hidden = checked.value !== "card"; }
  }
  document.addEventListener("input", function (event) {
    var role = event.target && event.target.getAttribute("data-card");
    if (role === "number") { formatNumber(event.target); }
    else if (role === "exp") { formatExpiry(event.target, event); }
    else if (role === "cvc") { formatCvc(event.target); }
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.type === "radio" && event.target.form) { toggleCardFields(event.target.form); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(toggleCardFields);
  });
})();
