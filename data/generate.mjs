#!/usr/bin/env node
// Regenerates the small shipped demo files (deterministic: same bytes on every run).
//   node data/generate.mjs
// - blobs-3class.csv: 300 rows, 4 numeric features, `label` in {0,1,2}: three overlapping Gaussian
//   blobs, so a classifier must learn (chance is 1/3; a good model gets well above 0.9).
// - sample.png: a 96x64 RGB test image for the `thumbnail` template and image.resize.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));

// mulberry32: a tiny seeded PRNG, enough for reproducible demo data.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand) {
  // Box-Muller; 1 - rand() keeps log away from 0
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function blobs() {
  const rand = mulberry32(20261128);
  const centres = [
    [0, 0, 0, 0],
    [2.5, 2.5, 0, 1],
    [0, 2.5, 2.5, -1],
  ];
  const scale = [1.0, 1.0, 1.0, 2.0]; // the last feature is mostly noise
  const rows = [];
  for (let i = 0; i < 300; i++) {
    const label = i % 3;
    const x = centres[label].map((c, f) => c + scale[f] * gaussian(rand));
    rows.push([...x.map((v) => v.toFixed(4)), label].join(','));
  }
  // shuffle (Fisher-Yates) so classes are interleaved irregularly
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return ['f1,f2,f3,f4,label', ...rows].join('\n') + '\n';
}

async function samplePng() {
  const width = 96;
  const height = 64;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const inCircle = (x - 48) ** 2 + (y - 32) ** 2 < 20 ** 2;
      pixels[o] = Math.round((255 * x) / (width - 1));
      pixels[o + 1] = Math.round((255 * y) / (height - 1));
      pixels[o + 2] = inCircle ? 255 : 64;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

writeFileSync(join(here, 'blobs-3class.csv'), blobs());
writeFileSync(join(here, 'sample.png'), await samplePng());
console.log('wrote data/blobs-3class.csv and data/sample.png');
