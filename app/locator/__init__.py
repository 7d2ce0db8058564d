"""The object locator: finds objects in an image (a "locate" job) and keeps them as detections,
whose masks become inpainting masks. See docs/locator.md."""
