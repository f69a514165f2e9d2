/* Replik comment form: progressive enhancement.
 *
 * Without this script the form is a plain HTML form that the server answers
 * with a page. With it: "Reply" moves the form under the comment, the form is
 * sent with fetch to the JSON API, field errors appear inline, and a preview
 * button shows the text rendered by the server exactly as the site will.
 */
(function () {
  "use strict";

  var TEXT = {
    de: {
      preview: "Vorschau",
      sending: "Wird gesendet …",
      failed: "Der Kommentar konnte nicht gesendet werden. Bitte versuchen Sie es noch einmal.",
      previewFailed: "Die Vorschau ist gerade nicht verfügbar.",
      empty: "Noch kein Text für die Vorschau."
    },
    en: {
      preview: "Preview",
      sending: "Sending …",
      failed: "The comment could not be sent. Please try again.",
      previewFailed: "The preview is not available right now.",
      empty: "No text to preview yet."
    }
  };
  var FIELDS = ["author", "email", "url", "body", "consent"];

  function texts() {
    var lang = (document.documentElement.lang || "de").slice(0, 2).toLowerCase();
    return TEXT[lang] || TEXT.en;
  }

  function encode(form) {
    var data = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      data.append(key, value);
    });
    return data;
  }

  function post(url, form) {
    return fetch(url, {
      method: "POST",
      body: encode(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) {
        return { status: response.status, data: data };
      }, function () {
        return { status: response.status, data: {} };
      });
    });
  }

  function fieldOf(form, name) {
    return form.querySelector('[name="' + name + '"]');
  }

  function clearErrors(form) {
    FIELDS.forEach(function (name) {
      var input = fieldOf(form, name);
      var box = document.getElementById("respond-" + name + "-error");
      if (box) { box.remove(); }
      if (!input) { return; }
      input.removeAttribute("aria-invalid");
      var wrapper = input.closest(".form-field");
      if (wrapper) { wrapper.classList.remove("has-error"); }
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(
        function (id) { return id && id !== "respond-" + name + "-error"; });
      if (described.length) {
        input.setAttribute("aria-describedby", described.join(" "));
      } else {
        input.removeAttribute("aria-describedby");
      }
    });
    var summary = form.querySelector(".form-errors");
    if (summary) { summary.remove(); }
  }

  function showErrors(form, errors) {
    var first = null;
    Object.keys(errors || {}).forEach(function (name) {
      var input = fieldOf(form, name);
      if (!input || input.type === "hidden") { return; }
      var wrapper = input.closest(".form-field") || input.parentNode;
      var box = document.createElement("p");
      box.className = "field-error";
      box.id = "respond-" + name + "-error";
      box.textContent = errors[name];
      wrapper.appendChild(box);
      wrapper.classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      described.push(box.id);
      input.setAttribute("aria-describedby", described.join(" "));
      if (!first) { first = input; }
    });
    return first;
  }

  function setStatus(form, message, kind) {
    var status = form.querySelector(".form-status");
    if (!status) { return; }
    status.textContent = message || "";
    status.className = "form-status" + (kind ? " form-status-" + kind : "");
  }

  function enhance(form) {
    var t = texts();
    var home = document.createComment("replik-form-home");
    form.parentNode.insertBefore(home, form);
    var replyInput = fieldOf(form, "reply_to");
    var replyNote = form.querySelector(".reply-note");
    var previewBox = form.querySelector(".comment-preview");
    var submitButton = form.querySelector('button[type="submit"]');
    // The server checks every field and answers in the site's language, inline.
    form.noValidate = true;

    // Reply links: move the form under the comment being answered.
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("[data-reply-to]") : null;
      if (!link) { return; }
      event.preventDefault();
      var comment = link.closest(".comment") || link.parentNode;
      comment.parentNode.insertBefore(form, comment.nextSibling);
      replyInput.value = link.getAttribute("data-reply-to");
      if (replyNote) { replyNote.hidden = false; }
      var body = fieldOf(form, "body");
      if (body) { body.focus(); }
    });
    var cancel = form.querySelector(".reply-cancel");
    if (cancel) {
      cancel.addEventListener("click", function (event) {
        event.preventDefault();
        home.parentNode.insertBefore(form, home.nextSibling);
        replyInput.value = "";
        if (replyNote) { replyNote.hidden = true; }
      });
    }

    // Reply notifications: the address is needed only when the box is ticked.
    var notifyBox = fieldOf(form, "notify");
    var emailInput = fieldOf(form, "email");
    if (notifyBox && emailInput) {
      var needEmail = function () {
        emailInput.required = notifyBox.checked;
        emailInput.setAttribute("aria-required", notifyBox.checked ? "true" : "false");
      };
      notifyBox.addEventListener("change", needEmail);
      needEmail();
    }

    // Preview: the server renders the text as the site will show it.
    var previewUrl = form.getAttribute("data-preview-url");
    if (previewUrl && previewBox) {
      var previewButton = document.createElement("button");
      previewButton.type = "button";
      previewButton.className = "button button-secondary comment-preview-button";
      previewButton.textContent = t.preview;
      (submitButton ? submitButton.parentNode : form).appendChild(previewButton);
      previewButton.addEventListener("click", function () {
        var body = fieldOf(form, "body");
        if (!body || !body.value.trim()) {
          previewBox.hidden = false;
          previewBox.textContent = t.empty;
          return;
        }
        post(previewUrl, form).then(function (result) {
          previewBox.hidden = false;
          if (result.status === 200 && result.data.ok) {
            // Server-rendered and sanitized HTML, the same as on the built page.
            previewBox.innerHTML = result.data.html;
          } else {
            previewBox.textContent = (result.data.errors && result.data.errors.body) ||
              result.data.message || t.previewFailed;
          }
        }, function () {
          previewBox.hidden = false;
          previewBox.textContent = t.previewFailed;
        });
      });
    }

    // Submit with fetch; the server's messages (in the site's language) appear inline.
    form.addEventListener("submit", function (event) {
      if (!window.fetch) { return; }
      event.preventDefault();
      clearErrors(form);
      setStatus(form, t.sending, "busy");
      if (submitButton) { submitButton.disabled = true; }
      post(form.action, form).then(function (result) {
        if (submitButton) { submitButton.disabled = false; }
        var data = result.data || {};
        if (result.status === 201 && data.ok) {
          var body = fieldOf(form, "body");
          if (body) { body.value = ""; }
          if (previewBox) { previewBox.hidden = true; previewBox.textContent = ""; }
          setStatus(form, data.message, "success");
          return;
        }
        var first = showErrors(form, data.errors);
        setStatus(form, data.message || t.failed, "error");
        if (first) { first.focus(); }
      }, function () {
        if (submitButton) { submitButton.disabled = false; }
        setStatus(form, t.failed, "error");
      });
    });
  }

  function start() {
    var form = document.getElementById("respond");
    if (form && window.URLSearchParams && window.FormData) { enhance(form); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
