;;; ask.el --- nexus-lsp in a real Emacs (eglot), run by tests/editors/test_emacs.py  -*- lexical-binding: t -*-
;;
;; emacs --batch -Q -l ask.el, in the workspace folder.  Environment:
;;   NEXUS_TEST_README_EL  the README's Emacs snippet (with the test's server path)
;;   NEXUS_TEST_FILE       the file to open
;; Runs the README's setup, then: the first code action on the whole buffer (the
;; model answers with an edit of the file, then text), waits for the answer in the
;; echo area, asks a free prompt with the README's `nexus-ask' and cancels it with
;; its `nexus-cancel'.  Prints ONE JSON
;; report on stdout as its last line.

(require 'json)

(defvar nexus-test-messages nil "Messages eglot showed (window/showMessage).")
(defvar nexus-test-report nil)
(defvar nexus-test-content nil "Text of the nexus/session/update content updates.")

(defun nexus-test-note (key value)
  (setq nexus-test-report (plist-put nexus-test-report key value)))

(defun nexus-test-wait (what predicate &optional seconds)
  "Process events until PREDICATE holds; fail naming WHAT after SECONDS."
  (let ((deadline (+ (float-time) (or seconds 20))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless (funcall predicate)
      (error "timed out waiting for %s" what))))

(defun nexus-test-message (text)
  (seq-find (lambda (m) (string-search text m)) nexus-test-messages))

(advice-add 'eglot-handle-notification :before
            (lambda (_server method &rest params)
              (when (and (eq method 'nexus/session/update)
                         (equal (plist-get params :kind) "content"))
                (push (plist-get params :text) nexus-test-content))
              (when (eq method 'window/showMessage)
                (push (format "%s %s" (plist-get params :type) (plist-get params :message))
                      nexus-test-messages))))

(defun nexus-test-run ()
  ;; The README's setup, as written there (the test put in this venv's server, the
  ;; scripted model's URL and model name): it must work before eglot is loaded.
  (load (getenv "NEXUS_TEST_README_EL") nil t)
  (require 'eglot)
  (nexus-test-note :readme-entry
                   (car (cdr (assoc '(python-mode python-ts-mode) eglot-server-programs))))
  (setq eglot-sync-connect 10)
  (find-file (getenv "NEXUS_TEST_FILE"))
  (python-mode)
  (apply #'eglot (eglot--guess-contact))
  (nexus-test-wait "the server" (lambda () (eglot-current-server)))
  (let ((server (eglot-current-server))
        (file-buffer (current-buffer)))
    (nexus-test-note :server (plist-get (eglot--server-info server) :name))
    ;; 1. The code actions on the whole buffer; the user picks the first.
    (let ((actions (eglot-code-actions (point-min) (point-max) "refactor.nexus")))
      (nexus-test-note :actions (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
      (eglot-execute server (car actions)))
    (nexus-test-wait "the answer's message" (lambda () (nexus-test-message "Nexus:")))
    (nexus-test-note :answer (nexus-test-message "Nexus:"))
    (nexus-test-note :buffer (with-current-buffer file-buffer
                               (buffer-substring-no-properties (point-min) (point-max))))
    ;; the transcript, opened by window/showDocument at the answer
    (nexus-test-wait "the transcript" (lambda () (get-buffer "context.md")))
    (with-current-buffer "context.md"
      (nexus-test-note :transcript-line
                       (buffer-substring-no-properties (line-beginning-position)
                                                       (line-end-position))))
    ;; 2. A free prompt (the README's nexus-ask), cancelled while it runs.
    (setq nexus-test-messages nil)
    (setq nexus-test-content nil)
    (with-current-buffer file-buffer
      (nexus-test-note :started (plist-get (nexus-ask "tell me a long story") :started)))
    ;; the answer streams (and the model never finishes it)
    (nexus-test-wait "the answer to stream" (lambda () nexus-test-content))
    (with-current-buffer file-buffer
      (nexus-test-note :cancelled (plist-get (nexus-cancel) :cancelled)))
    (nexus-test-wait "the cancel's message" (lambda () (nexus-test-message "cancelled")))
    (nexus-test-note :cancel-message (nexus-test-message "cancelled"))
    ;; shown again: the open transcript is reread (revert-without-query), no prompt
    (nexus-test-wait "the transcript to be reread"
                     (lambda () (with-current-buffer "context.md"
                                  (string-search "Turn 2 ended" (buffer-string)))))
    (with-current-buffer "context.md"
      (nexus-test-note :transcript-line-2
                       (buffer-substring-no-properties (line-beginning-position)
                                                       (line-end-position))))
    (eglot-shutdown server)))

(condition-case err
    (nexus-test-run)
  (error (nexus-test-note :error (error-message-string err))))
(princ (concat (json-encode nexus-test-report) "\n"))
(kill-emacs 0)
