// Photos compressed in the browser before upload: decode (EXIF orientation applied),
// scale the long side down to MAX_SIDE_PX, re-encode as JPEG. A phone's 4–12 MB photo
// becomes a few hundred KB, which matters on a weak network and for the 5 MB server limit.

export const MAX_SIDE_PX = 1600;
export const JPEG_QUALITY = 0.8;

async function decode(file) {
  if ('createImageBitmap' in window) {
    try {
      return await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      // fall through to <img>, which some formats need
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.decoding = 'async';
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function canvasToBlob(canvas, type, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('图片编码失败'))), type, quality);
  });
}

/**
 * Compress one image file. Resolves with {blob, width, height, name}; rejects with an
 * Error whose message is shown to the officer when the file is not a readable image.
 */
export async function compressPhoto(file, { maxSidePx = MAX_SIDE_PX, quality = JPEG_QUALITY } = {}) {
  let image;
  try {
    image = await decode(file);
  } catch {
    throw new Error(`无法读取图片：${file.name || '照片'}`);
  }
  const srcW = image.width || image.naturalWidth;
  const srcH = image.height || image.naturalHeight;
  const scale = Math.min(1, maxSidePx / Math.max(srcW, srcH));
  const width = Math.max(1, Math.round(srcW * scale));
  const height = Math.max(1, Math.round(srcH * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff'; // transparent PNG areas become white, not black
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(image, 0, 0, width, height);
  if (typeof image.close === 'function') image.close();
  const blob = await canvasToBlob(canvas, 'image/jpeg', quality);
  const base = (file.name || 'photo').replace(/\.[^.]+$/, '') || 'photo';
  return { blob, width, height, name: `${base}.jpg` };
}
