// Recording a session's audio in the browser (MediaRecorder): this computer's microphone for a
// session in the room, or the microphone mixed with a shared tab's sound for an online session.
// The recording is put into the upload form's file field, so it is attached, encrypted and
// consented to exactly as a file is. The page works without this file: upload a file instead.
(function () {
  "use strict";

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function start() {
    var box = document.querySelector("[data-recorder]");
    var supported =
      window.MediaRecorder && window.DataTransfer && navigator.mediaDevices &&
      navigator.mediaDevices.getUserMedia;
    if (!box || !supported) return;
    var input = document.getElementById(box.getAttribute("data-input"));
    if (!input) return;
    var status = box.querySelector("[data-recorder-status]");
    var stopButton = box.querySelector("[data-recorder-stop]");
    var startButtons = box.querySelectorAll("[data-recorder-start]");
    if (!navigator.mediaDevices.getDisplayMedia) {
      box.querySelectorAll("[data-recorder-start=call]").forEach(function (b) { b.hidden = true; });
    }
    box.hidden = false;

    var recorder = null;
    var streams = [];
    var mixer = null;
    var timer = null;

    function say(name, time) {
      status.textContent = box.getAttribute("data-text-" + name).replace("%(time)s", time || "");
    }

    function release() {
      streams.forEach(function (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
      });
      streams = [];
      if (mixer) mixer.close();
      mixer = null;
      clearInterval(timer);
    }

    function busy(recording) {
      startButtons.forEach(function (b) { b.disabled = recording; });
      stopButton.disabled = !recording;
    }

    // The sound to record: the microphone alone, or mixed with the call's sound, which the
    // browser gives only when the clinician shares the call's tab with its audio.
    function sound(kind) {
      return navigator.mediaDevices.getUserMedia({ audio: true }).then(function (microphone) {
        streams.push(microphone);
        if (kind !== "call") return microphone;
        return navigator.mediaDevices
          .getDisplayMedia({ video: true, audio: true })
          .then(function (shared) {
            streams.push(shared);
            if (!shared.getAudioTracks().length) throw new Error("no-call-sound");
            mixer = new AudioContext();
            var mix = mixer.createMediaStreamDestination();
            mixer.createMediaStreamSource(microphone).connect(mix);
            mixer.createMediaStreamSource(new MediaStream(shared.getAudioTracks())).connect(mix);
            return mix.stream;
          });
      });
    }

    function record(kind) {
      var chunks = [];
      var began = Date.now();
      busy(true);
      sound(kind)
        .then(function (stream) {
          recorder = new MediaRecorder(stream);
          recorder.addEventListener("dataavailable", function (event) {
            if (event.data.size) chunks.push(event.data);
          });
          recorder.addEventListener("stop", function () {
            release();
            busy(false);
            var type = recorder.mimeType.split(";")[0] || "audio/webm";
            var file = new File(chunks, "session-recording.webm", { type: type });
            var files = new DataTransfer();
            files.items.add(file);
            input.files = files.files;
            say("done", clock((Date.now() - began) / 1000));
            recorder = null;
          });
          // A chunk every second, so a long session is not held in one piece until the end.
          recorder.start(1000);
          say("recording", "0:00");
          timer = setInterval(function () {
            say("recording", clock((Date.now() - began) / 1000));
          }, 1000);
        })
        .catch(function (error) {
          release();
          busy(false);
          say(error && error.message === "no-call-sound" ? "no-call-sound" : "denied");
        });
    }

    startButtons.forEach(function (button) {
      button.addEventListener("click", function () {
        record(button.getAttribute("data-recorder-start"));
      });
    });
    stopButton.addEventListener("click", function () {
      if (recorder && recorder.state !== "inactive") recorder.stop();
    });
    window.addEventListener("beforeunload", function (event) {
      if (recorder && recorder.state !== "inactive") event.preventDefault();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
