// The letter page's one script: "Copy letter" buttons, the mailto: links kept in
// step with the edited letter, and edits kept across the page's own redirects.
// Without it every action still works: the buttons stay hidden, the text is
// selectable, and the forms post as usual.
"use strict";

function copyWithSelection(field) {
  field.focus();
  field.select();
  try {
    return document.execCommand("copy");
  } catch (error) {
    return false;
  }
}

async function copyText(field) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(field.value);
      return true;
    } catch (error) {
      // Permission refused or no focus: fall back to selecting the text.
    }
  }
  return copyWithSelection(field);
}

function setUpCopy(button) {
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  if (!field || !status) {
    return;
  }
  button.closest("[data-copy-row]").hidden = false;
  button.addEventListener("click", async () => {
    const copied = await copyText(field);
    status.textContent = copied
      ? button.dataset.copied || "Copied. Paste it into the message box of the form."
      : "Your browser did not let us copy: select the text and copy it yourself.";
    if (copied && button.dataset.count && navigator.sendBeacon) {
      navigator.sendBeacon(button.dataset.count); // the share panel counts its copied links
    }
  });
}

function mailtoHref(subject, body) {
  const lines = body.replace(/\r\n/g, "\n").replace(/\n/g, "\r\n");
  return "mailto:?subject=" + encodeURIComponent(subject) + "&body=" + encodeURIComponent(lines);
}

function setUpMailto(link) {
  const id = link.dataset.mailto;
  const subject = document.getElementById("subject-" + id);
  const text = document.getElementById("text-" + id);
  if (!subject || !text) {
    return;
  }
  const update = () => {
    link.href = mailtoHref(subject.value, text.value);
  };
  subject.addEventListener("input", update);
  text.addEventListener("input", update);
}

// Every form answers with a redirect back to the page, which shows the letter as the
// campaign wrote it. An edit is kept in this tab's sessionStorage while it differs from
// that text, and put back when the page shows the same text again.
function readDraft(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch (error) {
    return null;
  }
}

function keepDraft(key, field) {
  try {
    if (field.value === field.defaultValue) {
      sessionStorage.removeItem(key);
    } else {
      const draft = { original: field.defaultValue, value: field.value };
      sessionStorage.setItem(key, JSON.stringify(draft));
    }
  } catch (error) {
    // Storage is off or full: the edit stays on this page only.
  }
}

function setUpDraft(field) {
  const key = "alerts-draft:" + location.pathname + ":" + field.id;
  const draft = readDraft(key);
  if (draft && draft.original === field.defaultValue && typeof draft.value === "string") {
    field.value = draft.value;
    field.dispatchEvent(new Event("input"));
  }
  field.addEventListener("input", () => keepDraft(key, field));
}

document.querySelectorAll("[data-copy]").forEach(setUpCopy);
document.querySelectorAll("[data-mailto]").forEach(setUpMailto);
document.querySelectorAll("textarea[name=letter], input[name=subject]").forEach(setUpDraft);
