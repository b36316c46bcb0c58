/*
 * Kestrel Support — agent inbox: notifications. A new handoff for my teams (or the general queue),
 * and a customer's message in a conversation I own while the tab is hidden: the count in the tab
 * title, an announcement for screen readers, a sound (muted with the Sound button; the choice is
 * kept in localStorage) and a desktop notification (the permission is asked once, from a click).
 * High priority is distinct: "!" in the title, two higher tones, a notification that stays.
 */

var MUTED_KEY = "kestrel.inbox.muted";

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch (e) {
    return null;
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch (e) {
    /* private mode: the choice lasts the page */
  }
}

export function Notifier(live, soundButton, permissionButton) {
  this.live = live;
  this.soundButton = soundButton;
  this.permissionButton = permissionButton;
  this.baseTitle = document.title;
  this.unseen = 0;
  this.unseenHigh = false;
  this.muted = stored(MUTED_KEY) === "1";
  this.known = null; // the queued conversation ids last seen; null until the first queue
  this.audio = null;
  var notifier = this;
  soundButton.addEventListener("click", function () {
    notifier.muted = !notifier.muted;
    store(MUTED_KEY, notifier.muted ? "1" : "0");
    notifier.renderButtons();
  });
  permissionButton.addEventListener("click", function () {
    // A click is a user gesture: the one moment a browser lets a page ask.
    if (!("Notification" in window)) return;
    Promise.resolve(Notification.requestPermission()).then(function () {
      notifier.renderButtons();
    });
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) notifier.seen();
  });
  window.addEventListener("focus", function () {
    notifier.seen();
  });
  this.renderButtons();
}

Notifier.prototype.renderButtons = function () {
  this.soundButton.setAttribute("aria-pressed", this.muted ? "false" : "true");
  this.soundButton.textContent = this.muted ? "Sound off" : "Sound on";
  var canAsk = "Notification" in window && Notification.permission === "default";
  this.permissionButton.hidden = !canAsk;
};

Notifier.prototype.reset = function () {
  this.known = null;
  this.seen();
};

// The tab is looked at: the count goes.
Notifier.prototype.seen = function () {
  this.unseen = 0;
  this.unseenHigh = false;
  document.title = this.baseTitle;
};

// After every queue load: each conversation newly waiting that is `forMe` is announced; the first
// load only learns what is there.
Notifier.prototype.queueLoaded = function (items, forMe) {
  var waiting = items.filter(function (i) {
    return i.state !== "agent";
  });
  var known = this.known;
  this.known = new Set(waiting.map(function (i) { return String(i.conversation_id); }));
  if (known === null) return;
  var notifier = this;
  waiting.forEach(function (item) {
    if (known.has(String(item.conversation_id)) || !forMe(item)) return;
    var high = item.priority === "high";
    notifier.alert(
      (high ? "High priority: " : "New conversation: ") + String(item.headline || "a customer is waiting"),
      String(item.conversation_id),
      high
    );
  });
};

// A customer wrote in a conversation I own: only while the tab is hidden (else it is on screen).
Notifier.prototype.customerMessage = function (conversationId, text) {
  if (!document.hidden) return;
  this.alert("Customer: " + String(text || "").slice(0, 120), String(conversationId), false);
};

Notifier.prototype.alert = function (text, tag, high) {
  this.unseen++;
  this.unseenHigh = this.unseenHigh || high;
  document.title = "(" + this.unseen + (this.unseenHigh ? "!" : "") + ") " + this.baseTitle;
  this.live.textContent = text;
  if (!this.muted) this.beep(high);
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(high ? "Kestrel: high priority" : "Kestrel Support", {
        body: text,
        tag: tag,
        requireInteraction: high,
      });
    } catch (e) {
      /* some browsers only notify from a service worker: the title and sound remain */
    }
  }
};

Notifier.prototype.beep = function (high) {
  try {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    this.audio = this.audio || new Context();
    var ctx = this.audio;
    (high ? [880, 1175] : [660]).forEach(function (frequency, i) {
      var tone = ctx.createOscillator();
      var gain = ctx.createGain();
      tone.frequency.value = frequency;
      gain.gain.value = 0.08;
      tone.connect(gain).connect(ctx.destination);
      tone.start(ctx.currentTime + i * 0.18);
      tone.stop(ctx.currentTime + i * 0.18 + 0.15);
    });
  } catch (e) {
    /* no sound (no audio device, or not allowed before a click): the title and notification remain */
  }
};
