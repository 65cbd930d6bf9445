// The IPR player's helpers: put the player's time into a mark's fields, seek to a mark, and show
// the transcript's current line beside an audio player. The page works without this file: the
// times can be typed as minutes:seconds.
(function () {
  "use strict";

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var rest = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
  }

  function start() {
    var player = document.querySelector("[data-ipr-player]");
    var media = document.getElementById("ipr-media");
    if (!player || !media) return;
    var prefix = player.getAttribute("data-prefix");
    var time = player.querySelector("[data-ipr-time]");
    var now = player.querySelector("[data-ipr-now]");
    time.hidden = false;
    media.addEventListener("timeupdate", function () {
      now.textContent = clock(media.currentTime);
    });

    document.querySelectorAll("[data-ipr-take]").forEach(function (holder) {
      var which = holder.getAttribute("data-ipr-take");
      var input = document.getElementById("id_" + prefix + "-" + which);
      if (!input) return;
      holder.hidden = false;
      holder.querySelector("button").addEventListener("click", function () {
        media.pause();
        input.value = clock(media.currentTime);
        input.focus();
      });
    });

    document.querySelectorAll("[data-ipr-seek]").forEach(function (button) {
      button.disabled = false;
      button.addEventListener("click", function () {
        media.currentTime = Number(button.getAttribute("data-ipr-seek"));
        media.focus();
      });
    });

    var line = player.querySelector("[data-ipr-cue]");
    var track = media.textTracks && media.textTracks[0];
    if (line && track) {
      if (media.tagName === "AUDIO") track.mode = "hidden";
      line.hidden = false;
      track.addEventListener("cuechange", function () {
        var cues = track.activeCues;
        line.textContent = cues && cues.length ? cues[0].text : "";
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
