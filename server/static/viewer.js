// A small 3D skeleton viewer on a <canvas>: perspective projection, drag to rotate, auto-play.
//
// Frames are [F][M][V][3] (frames, persons, joints, xyz in metres); a person whose joints are all
// zero in a frame is absent there. `upAxis` names the vertical coordinate. The canonical frame
// below makes a subject whose shoulder line runs along +x face the camera at yaw 0 (the server's
// pipelines rotate the shoulders onto +x).

const BACKGROUND = "#10151c";
const PERSON_COLOURS = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373"];
const GRID = "rgba(255, 255, 255, 0.09)";
// upAxis -> [right axis, its sign, forward axis, its sign]: a right-handed (right, forward, up).
const CANONICAL = { 0: [1, 1, 2, 1], 1: [0, 1, 2, -1], 2: [0, 1, 1, 1] };
const DEFAULT_VIEW = { yaw: 0.5, pitch: 0.25 };

export class SkeletonViewer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{bones: number[][], upAxis: number, fps?: number, onFrame?: (i: number) => void}} options
   */
  constructor(canvas, { bones, upAxis, fps = 10, onFrame = null }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.bones = bones;
    this.axes = CANONICAL[upAxis] ?? CANONICAL[1];
    this.upAxis = upAxis in CANONICAL ? upAxis : 1;
    this.fps = fps;
    this.onFrame = onFrame;
    this.frames = [];
    this.attribution = null; // [F][V] in [-1, 1] per shown frame and joint, or null
    this.frame = 0;
    this.playing = true;
    this.yaw = DEFAULT_VIEW.yaw;
    this.pitch = DEFAULT_VIEW.pitch;
    this.clock = 0; // seconds of animation played so far
    this.last = null; // timestamp of the previous animation tick
    this.raf = null;
    this.dirty = true;
    this.listen();
  }

  /** Show a new clip: fit the view to it and start from its first frame. */
  setFrames(frames) {
    this.frames = frames || [];
    this.fit();
    this.setFrame(0);
    this.clock = 0;
    if (this.raf === null) this.raf = requestAnimationFrame((t) => this.tick(t));
  }

  /**
   * Colour the joints by attribution: `values` [F][V] in [-1, 1] (F = the frames of setFrames),
   * red for evidence for the class, blue against, larger dots for larger shares; null: plain.
   */
  setAttribution(values) {
    this.attribution = values && values.length === this.frames.length ? values : null;
    this.dirty = true;
  }

  setFrame(index) {
    const count = Math.max(this.frames.length, 1);
    this.frame = ((index % count) + count) % count;
    this.canvas.dataset.frame = String(this.frame);
    this.dirty = true;
    if (this.onFrame) this.onFrame(this.frame);
  }

  play() {
    this.playing = true;
    this.clock = this.frame / this.fps;
  }

  pause() {
    this.playing = false;
  }

  destroy() {
    if (this.raf !== null) cancelAnimationFrame(this.raf);
    this.raf = null;
    this.abort.abort();
  }

  // ------------------------------------------------------------------ geometry
  /** A world point -> canonical (right, forward, up), centred and scaled to a unit sphere. */
  canonical(p) {
    const [r, rs, f, fs] = this.axes;
    const c = this.centre;
    return [(rs * p[r] - c[0]) / this.radius, (fs * p[f] - c[1]) / this.radius, (p[this.upAxis] - c[2]) / this.radius];
  }

  fit() {
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    const [r, rs, f, fs] = this.axes;
    for (const people of this.frames) {
      for (const joints of people) {
        if (!present(joints)) continue;
        for (const p of joints) {
          const q = [rs * p[r], fs * p[f], p[this.upAxis]];
          for (let i = 0; i < 3; i++) {
            lo[i] = Math.min(lo[i], q[i]);
            hi[i] = Math.max(hi[i], q[i]);
          }
        }
      }
    }
    if (!Number.isFinite(lo[0])) {
      lo.fill(-1);
      hi.fill(1);
    }
    this.centre = lo.map((v, i) => (v + hi[i]) / 2);
    this.radius = Math.max(Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) / 2, 1e-3);
    this.floor = (lo[2] - this.centre[2]) / this.radius;
    this.dirty = true;
  }

  /** Canonical point -> [screen x, screen y] under the current yaw and pitch (perspective). */
  project([x, y, z], width, height) {
    const cy = Math.cos(this.yaw);
    const sy = Math.sin(this.yaw);
    const rx = x * cy - y * sy; // rotate about the vertical axis
    const ry = x * sy + y * cy;
    const sx = -rx; // facing the subject, its right is on our left
    const cp = Math.cos(this.pitch);
    const sp = Math.sin(this.pitch);
    const up = z * cp - ry * sp; // tilt: look from above
    const toward = z * sp + ry * cp;
    const distance = 4;
    const focal = 0.48 * Math.min(width, height) * (distance - 1);
    const w = focal / (distance - toward);
    return [width / 2 + sx * w, height / 2 - up * w];
  }

  // ------------------------------------------------------------------ drawing
  tick(time) {
    this.raf = requestAnimationFrame((t) => this.tick(t));
    if (this.playing && this.frames.length > 1) {
      if (this.last !== null) this.clock += Math.min(time - this.last, 100) / 1000;
      const index = Math.floor(this.clock * this.fps) % this.frames.length;
      if (index !== this.frame) this.setFrame(index);
    }
    this.last = time;
    if (this.dirty) this.draw();
  }

  draw() {
    this.dirty = false;
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * ratio) || canvas.width;
    const height = Math.round(canvas.clientHeight * ratio) || canvas.height;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = this.ctx;
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, width, height);
    if (!this.frames.length) return;
    this.drawFloor(width, height);
    const line = Math.max(1.5, Math.min(width, height) / 160);
    this.frames[this.frame].forEach((joints, person) => {
      if (!present(joints)) return;
      const points = joints.map((p) => this.project(this.canonical(p), width, height));
      ctx.strokeStyle = ctx.fillStyle = PERSON_COLOURS[person % PERSON_COLOURS.length];
      ctx.lineWidth = line;
      ctx.lineCap = "round";
      ctx.beginPath();
      for (const [a, b] of this.bones) {
        if (!points[a] || !points[b]) continue;
        ctx.moveTo(...points[a]);
        ctx.lineTo(...points[b]);
      }
      ctx.stroke();
      const shares = this.attribution ? this.attribution[this.frame] : null;
      points.forEach(([x, y], joint) => {
        const value = shares ? shares[joint] || 0 : 0;
        if (shares) ctx.fillStyle = attributionColour(value);
        ctx.beginPath();
        ctx.arc(x, y, line * (1.2 + (shares ? 2.5 * Math.abs(value) : 0)), 0, 2 * Math.PI);
        ctx.fill();
      });
    });
  }

  drawFloor(width, height) {
    const ctx = this.ctx;
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = -4; i <= 4; i++) {
      const t = i / 4;
      ctx.moveTo(...this.project([t, -1, this.floor], width, height));
      ctx.lineTo(...this.project([t, 1, this.floor], width, height));
      ctx.moveTo(...this.project([-1, t, this.floor], width, height));
      ctx.lineTo(...this.project([1, t, this.floor], width, height));
    }
    ctx.stroke();
  }

  // ------------------------------------------------------------------ interaction
  listen() {
    this.abort = new AbortController();
    const on = (type, handler) => this.canvas.addEventListener(type, handler, { signal: this.abort.signal });
    let drag = null;
    on("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY };
      this.canvas.setPointerCapture(e.pointerId);
    });
    on("pointermove", (e) => {
      if (!drag) return;
      this.yaw += (e.clientX - drag.x) * 0.01;
      this.pitch = Math.max(-1.4, Math.min(1.4, this.pitch + (e.clientY - drag.y) * 0.01));
      drag = { x: e.clientX, y: e.clientY };
      this.dirty = true;
    });
    on("pointerup", () => (drag = null));
    on("pointercancel", () => (drag = null));
    on("dblclick", () => {
      this.yaw = DEFAULT_VIEW.yaw;
      this.pitch = DEFAULT_VIEW.pitch;
      this.dirty = true;
    });
  }
}

/** A person is present in a frame unless every coordinate of every joint is zero. */
function present(joints) {
  return joints.some((p) => p[0] !== 0 || p[1] !== 0 || p[2] !== 0);
}

/** A share in [-1, 1] -> grey at 0, towards red (for the class) or blue (against). */
function attributionColour(value) {
  const v = Math.max(-1, Math.min(1, value));
  const grey = 150;
  const [r, g, b] = v >= 0 ? [255, 64, 48] : [48, 128, 255];
  const a = Math.abs(v);
  const mix = (c) => Math.round(grey + (c - grey) * a);
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}
