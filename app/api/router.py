from fastapi import APIRouter

from app.auth.router import router as auth_router
from app.catalog.router import router as models_router
from app.images.router import router as images_router
from app.inpainting.router import router as inpaintings_router
from app.jobs.router import router as jobs_router
from app.locator.router import router as locator_router
from app.selection.router import router as selection_router
from app.users.router import router as users_router

api_router = APIRouter(prefix="/v1")
api_router.include_router(auth_router)
api_router.include_router(users_router)
api_router.include_router(images_router)
api_router.include_router(inpaintings_router)
api_router.include_router(jobs_router)
api_router.include_router(models_router)
api_router.include_router(locator_router)
api_router.include_router(selection_router)
