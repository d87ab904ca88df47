// Demo only: while a changelist shows an object waiting to be pushed (pending / in progress),
// fetch the same page every 1.5 s and swap in the new status badges, row by row, so a badge
// visibly turns to "synced". Only the badges change: ticked checkboxes, a chosen action and the
// scroll position stay as the operator left them. Gives up after 40 polls in a row, so an object
// waiting out a retry backoff doesn't keep the page busy.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  if (!document.getElementById("changelist")) return;
  var WAITING = '[data-thredfi-status="pending"], [data-thredfi-status="in_progress"]';
  var polls = 0;

  // Row key -> badge element; rows are matched by their action checkbox (the object's pk).
  function badgesByRow(root) {
    var found = {};
    root.querySelectorAll("#result_list tbody tr").forEach(function (row) {
      var box = row.querySelector("input.action-select");
      var badge = row.querySelector(".thredfi-badge");
      if (box && badge) found[box.value] = badge;
    });
    return found;
  }

  function refresh() {
    fetch(location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = badgesByRow(new DOMParser().parseFromString(html, "text/html"));
        var current = badgesByRow(document);
        Object.keys(current).forEach(function (pk) {
          if (fresh[pk] && fresh[pk].outerHTML !== current[pk].outerHTML) {
            current[pk].replaceWith(document.importNode(fresh[pk], true));
          }
        });
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    if (!document.querySelector(WAITING) || polls >= 40) return;
    polls += 1;
    setTimeout(refresh, 1500);
  }

  schedule();
});
