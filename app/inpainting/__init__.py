"""Prompted inpainting: masks, the high-resolution crop strategy, backends and the job.

Nothing in this package imports Pillow, NumPy, OpenCV, httpx or huggingface_hub at module
level: the API process imports the router and schemas, and its cold start must stay small.
"""
