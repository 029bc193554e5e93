// A small player: play / pause / step / seek / speed over steps 0..length-1.
// Time is injected (now, requestFrame, cancelFrame) so the logic runs under node --test.

export class Player {
  constructor({
    length = 0,
    speed = 4, // steps per second
    now = () => performance.now(),
    requestFrame = (fn) => requestAnimationFrame(fn),
    cancelFrame = (id) => cancelAnimationFrame(id),
    onChange = () => {}, // (t) after every move
    onPlayState = () => {}, // (playing, direction)
    onEnd = () => {}, // (direction) when playing runs off either end
  } = {}) {
    Object.assign(this, { now, requestFrame, cancelFrame, onChange, onPlayState, onEnd });
    this.length = length;
    this.speed = speed;
    this.t = 0;
    this.playing = false;
    this.direction = 1;
    this.frameId = null;
    this.last = 0; // time of the last whole step
  }

  get last_t() {
    return Math.max(0, this.length - 1);
  }

  setLength(length) {
    this.length = Math.max(0, length);
    if (this.t > this.last_t) this.seek(this.last_t);
  }

  setSpeed(speed) {
    if (!(speed > 0)) return;
    this.speed = speed;
    this.last = this.now(); // the new speed counts from now
  }

  // Play forwards (direction 1) or backwards (-1). From the far end, start over.
  play(direction = 1) {
    if (this.length < 2) return;
    this.direction = direction;
    if (direction > 0 && this.t >= this.last_t) this.moveTo(0);
    if (direction < 0 && this.t <= 0) this.moveTo(this.last_t);
    this.playing = true;
    this.last = this.now();
    this.schedule();
    this.onPlayState(true, direction);
  }

  pause() {
    if (this.frameId !== null) this.cancelFrame(this.frameId);
    this.frameId = null;
    const was = this.playing;
    this.playing = false;
    if (was) this.onPlayState(false, this.direction);
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play(1);
  }

  step(delta) {
    this.pause();
    this.seek(this.t + delta);
  }

  // Jump to step t (clamped to the valid range).
  seek(t) {
    this.moveTo(t);
  }

  moveTo(t) {
    const clamped = Math.min(this.last_t, Math.max(0, Math.round(Number(t) || 0)));
    this.t = clamped;
    this.onChange(clamped);
  }

  schedule() {
    this.frameId = this.requestFrame(() => this.frame());
  }

  // One animation frame: advance by the whole steps that fit in the time since the last one.
  frame() {
    this.frameId = null;
    if (!this.playing) return;
    const now = this.now();
    const period = 1000 / this.speed;
    const steps = Math.floor((now - this.last) / period);
    if (steps > 0) {
      this.last += steps * period;
      const target = this.t + this.direction * steps;
      const done = this.direction > 0 ? target >= this.last_t : target <= 0;
      this.moveTo(target);
      if (done) {
        this.pause();
        this.onEnd(this.direction);
        return;
      }
    }
    this.schedule();
  }
}
