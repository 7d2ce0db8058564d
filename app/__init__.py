"""Prompted-inpainting backend: the FastAPI application and the job code behind it."""
