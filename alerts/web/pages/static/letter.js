// The letter page's one script: "Copy letter" buttons, and the mailto: links kept in
// step with the edited letter. Without it every action still works: the buttons stay
// hidden, the text is selectable, and the forms post as usual.
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
      ? "Copied. Paste it into the message box of the form."
      : "Your browser did not let us copy: select the text and copy it yourself.";
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

document.querySelectorAll("[data-copy]").forEach(setUpCopy);
document.querySelectorAll("[data-mailto]").forEach(setUpMailto);
