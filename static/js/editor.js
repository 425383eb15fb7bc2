// Syntax highlighting for the job script: CodeMirror over the plain textarea, which
// still carries the script when the form is posted (and works without JavaScript).
document.addEventListener("DOMContentLoaded", () => {
  const textarea = document.querySelector("textarea.code");
  if (!textarea || !window.CodeMirror) return;
  const editor = CodeMirror.fromTextArea(textarea, {
    mode: "python", lineNumbers: true, indentUnit: 4, viewportMargin: Infinity,
    extraKeys: { Tab: (cm) => cm.replaceSelection("    ") },
  });
  editor.on("change", () => editor.save());
});
