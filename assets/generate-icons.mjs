#!/usr/bin/env node
// Draws the app icon and the tray images as PNGs (no image tools needed):
//   assets/icon.png (512×512, used by electron-builder for every platform), assets/icon.svg,
//   assets/tray/{online,offline,not-registered}.png (16×16) and @2x (32×32).
// The drawing is a monitor with a check mark; tray images add a status dot.
// Run: node assets/generate-icons.mjs
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}
function png(size, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // no filter
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Shapes in a 24×24 design space (as the SVG), each a coverage test.
const roundedRect = (x, y, w, h, r) => (px, py) => {
  const cx = Math.min(Math.max(px, x + r), x + w - r);
  const cy = Math.min(Math.max(py, y + r), y + h - r);
  return px >= x && px <= x + w && py >= y && py <= y + h && (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
};
const circle = (cx, cy, r) => (px, py) => (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
const segment = (x1, y1, x2, y2, width) => (px, py) => {
  const dx = x2 - x1, dy = y2 - y1;
  const t = Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / (dx * dx + dy * dy)));
  return (px - (x1 + t * dx)) ** 2 + (py - (y1 + t * dy)) ** 2 <= (width / 2) ** 2;
};

const BLUE = [15, 108, 189, 255];
const WHITE = [255, 255, 255, 255];
const STATUS = { online: [16, 124, 16, 255], offline: [196, 49, 75, 255], 'not-registered': [138, 136, 134, 255] };

function draw(size, layers) {
  const rgba = Buffer.alloc(size * size * 4);
  const samples = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let [r, g, b, a] = [0, 0, 0, 0];
      for (const [shape, color] of layers) {
        let hits = 0;
        for (let sy = 0; sy < samples; sy++)
          for (let sx = 0; sx < samples; sx++)
            if (shape(((x + (sx + 0.5) / samples) / size) * 24, ((y + (sy + 0.5) / samples) / size) * 24)) hits++;
        const coverage = (hits / (samples * samples)) * (color[3] / 255);
        if (coverage === 0) continue;
        // "over" compositing, premultiplied
        const outA = coverage + a * (1 - coverage);
        r = (color[0] * coverage + r * a * (1 - coverage)) / outA;
        g = (color[1] * coverage + g * a * (1 - coverage)) / outA;
        b = (color[2] * coverage + b * a * (1 - coverage)) / outA;
        a = outA;
      }
      const i = (y * size + x) * 4;
      rgba[i] = Math.round(r);
      rgba[i + 1] = Math.round(g);
      rgba[i + 2] = Math.round(b);
      rgba[i + 3] = Math.round(a * 255);
    }
  }
  return png(size, rgba);
}

const monitor = [
  [roundedRect(2, 4, 20, 13, 2), BLUE],
  [roundedRect(9, 18, 6, 2, 0.5), BLUE],
  [segment(8, 10.5, 10.5, 13, 2), WHITE],
  [segment(10.5, 13, 16, 8, 2), WHITE],
];

writeFileSync(path.join(here, 'icon.png'), draw(512, monitor));
writeFileSync(
  path.join(here, 'icon.svg'),
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect x="2" y="4" width="20" height="13" rx="2" fill="#0f6cbd"/>' +
    '<rect x="9" y="18" width="6" height="2" rx="0.5" fill="#0f6cbd"/><path d="M8 10.5l2.5 2.5L16 8" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round"/></svg>\n',
);
mkdirSync(path.join(here, 'tray'), { recursive: true });
for (const [status, color] of Object.entries(STATUS)) {
  const layers = [...monitor, [circle(18.5, 17.5, 5.5), WHITE], [circle(18.5, 17.5, 4.2), color]];
  writeFileSync(path.join(here, 'tray', `${status}.png`), draw(16, layers));
  writeFileSync(path.join(here, 'tray', `${status}@2x.png`), draw(32, layers));
}
console.log('icons written');
