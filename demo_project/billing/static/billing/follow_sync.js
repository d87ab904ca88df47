// Demo only: while a changelist shows an object waiting to be pushed (pending / in progress),
// reload it every 1.5 s so its badge visibly turns to "synced". Change forms are never
// reloaded (that would lose typing). Gives up after 20 reloads in a row, so an object waiting
// out a retry backoff doesn't keep the page busy.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  if (!document.getElementById("changelist")) return;
  var key = "billing-follow-sync:" + location.pathname + location.search;
  var waiting = document.querySelector(
    '[data-thredfi-status="pending"], [data-thredfi-status="in_progress"]'
  );
  if (!waiting) {
    sessionStorage.removeItem(key);
    return;
  }
  var reloads = parseInt(sessionStorage.getItem(key) || "0", 10);
  if (reloads >= 20) return;
  setTimeout(function () {
    sessionStorage.setItem(key, String(reloads + 1));
    location.reload();
  }, 1500);
});
