"""A photo-like test picture, rendered: a ball and a mug on a wooden table against a wall.

Not flat shapes: soft lighting, shading, specular highlights, wood grain, fractal texture,
cast shadows, sensor noise and JPEG compression, so the locator and GrabCut meet what a
camera would give them. The true object masks come with it.
"""

from __future__ import annotations

import io

import numpy as np


def _fractal_noise(rng: np.random.Generator, height: int, width: int, octaves: int = 5) -> np.ndarray:
    import cv2

    total = np.zeros((height, width), np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = 4 * 2**octave
        small = rng.random((cells, max(1, round(cells * width / height)))).astype(np.float32)
        total += amplitude * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        weight += amplitude
        amplitude *= 0.5
    return total / weight


def render_photo(
    width: int = 960, height: int = 640, seed: int = 7, horizon: float = 0.55
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An RGB uint8 image and {"ball": mask, "mug": mask} (bool, height x width).

    ``horizon``: where the wall meets the table, as a fraction of the height (0: all table).
    """
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    s = min(width / 960, height / 640)
    horizon = int(height * horizon)

    # Wall: warm plaster, lit from the upper left, with a blotchy texture.
    light = 1.0 - 0.35 * (xx / width) - 0.25 * (yy / height)
    plaster = 0.85 + 0.15 * _fractal_noise(rng, height, width)
    image = np.stack([225 * light * plaster, 214 * light * plaster, 196 * light * plaster], axis=-1)

    # Table: wood grain (perturbed stripes) in perspective, darker towards the viewer's edge.
    grain_noise = _fractal_noise(rng, height, width, octaves=4)
    grain = 0.5 + 0.5 * np.sin((xx / (12 * s)) + 9 * grain_noise + 0.02 * yy)
    depth = 0.75 + 0.25 * (1 - (yy - horizon) / max(1, height - horizon))
    wood = np.stack([150 + 45 * grain, 95 + 30 * grain, 55 + 18 * grain], axis=-1) * depth[..., None]
    table = yy >= horizon
    image[table] = wood[table]
    if horizon > 0:
        image[(yy >= horizon) & (yy < horizon + 4 * s)] *= 0.6  # the table's edge

    masks: dict[str, np.ndarray] = {}

    # Mug: a blue cylinder with a handle, shaded left to right, standing on the table.
    mx1, mx2 = int(560 * s), int(720 * s)
    my1, my2 = int(260 * s), int(470 * s)
    ellipse_h = int(18 * s)
    mug = np.zeros((height, width), np.uint8)
    cv2.rectangle(mug, (mx1, my1), (mx2, my2), 1, thickness=-1)
    cv2.ellipse(mug, ((mx1 + mx2) // 2, my2), ((mx2 - mx1) // 2, ellipse_h), 0, 0, 180, 1, thickness=-1)
    cv2.ellipse(mug, ((mx1 + mx2) // 2, my1), ((mx2 - mx1) // 2, ellipse_h), 0, 0, 360, 1, thickness=-1)
    cv2.ellipse(mug, (mx2, (my1 + my2) // 2), (int(45 * s), int(60 * s)), 0, -90, 90, 1, thickness=int(18 * s))
    # Cast shadow to the right of the mug on the table.
    shadow = np.zeros((height, width), np.uint8)
    cv2.ellipse(shadow, (mx2 + int(40 * s), my2), (int(110 * s), int(22 * s)), 0, 0, 360, 1, thickness=-1)
    shadow = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 9 * s)
    image *= (1 - 0.45 * shadow)[..., None]
    u = np.clip((xx - mx1) / max(1, mx2 - mx1), 0, 1)
    shade = 0.35 + 0.65 * np.sin(np.pi * (0.15 + 0.8 * u)) ** 1.5
    mug_color = np.stack([40 + 150 * shade, 70 + 90 * shade, 150 + 95 * shade], axis=-1)[..., ::-1][..., ::-1]
    mug_color = np.stack([mug_color[..., 0] * 0.35, mug_color[..., 1] * 0.6, mug_color[..., 2]], axis=-1)
    inside = np.zeros((height, width), np.uint8)
    cv2.ellipse(
        inside, ((mx1 + mx2) // 2, my1), ((mx2 - mx1) // 2 - int(8 * s), ellipse_h - int(4 * s)), 0, 0, 360, 1, -1
    )
    image[mug.astype(bool)] = mug_color[mug.astype(bool)]
    image[inside.astype(bool)] *= 0.35
    masks["mug"] = mug.astype(bool)

    # Ball: a red sphere, Lambert shading + a specular highlight, with a contact shadow.
    cx, cy, r = int(300 * s), int(420 * s), int(105 * s)
    contact = np.zeros((height, width), np.uint8)
    cv2.ellipse(contact, (cx + int(25 * s), cy + r - int(6 * s)), (int(r * 1.1), int(20 * s)), 0, 0, 360, 1, -1)
    contact = cv2.GaussianBlur(contact.astype(np.float32), (0, 0), 7 * s)
    image *= (1 - 0.55 * contact)[..., None]
    dx, dy = (xx - cx) / r, (yy - cy) / r
    inside_ball = dx**2 + dy**2 <= 1.0
    dz = np.sqrt(np.clip(1 - dx**2 - dy**2, 0, 1))
    lx, ly, lz = -0.5, -0.6, 0.62
    lambert = np.clip(dx * lx + dy * ly + dz * lz, 0, 1)
    spec = np.clip(dx * lx + dy * ly + dz * lz, 0, 1) ** 40
    ball = np.stack(
        [60 + 180 * lambert + 200 * spec, 18 + 30 * lambert + 200 * spec, 20 + 25 * lambert + 200 * spec], -1
    )
    image[inside_ball] = ball[inside_ball]
    masks["ball"] = inside_ball

    # Lens softness, sensor noise, 8 bits.
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.8)
    image += rng.normal(0, 3.5, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), masks


def jpeg_bytes(image: np.ndarray, quality: int = 92) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
