"""POST /v1/selections: smart select: a box or a point becomes an object-shaped mask.

Unlike detection, it answers inline: GrabCut on a reduced region takes well under a second.
OpenCV and numpy load on the first request (inside the service), not when the API starts.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from app.api.deps import CurrentUser, SessionDep, StorageDep
from app.images.models import ImageStatus
from app.images.router import owned_image_or_404
from app.selection.schemas import SelectionCreate, SelectionPublic

router = APIRouter(prefix="/selections", tags=["selections"])


@router.post(
    "",
    response_model=SelectionPublic,
    responses={
        404: {"description": "The image is not yours or does not exist."},
        409: {"description": "The image's upload is not complete."},
        422: {"description": "Invalid box or point (outside the image), or no object found there."},
    },
)
def create_selection(
    body: SelectionCreate, session: SessionDep, storage: StorageDep, user: CurrentUser
) -> SelectionPublic:
    """Refine a box dragged around an object, or a point on it, into the object's own mask (GrabCut).

    The answer's `mask` is COCO RLE at the image's full size (like detections' masks); with
    `include_png` also `png_base64`, which `POST /v1/inpaintings` takes as `mask.png_base64`.
    """
    from app.selection.service import SelectionError, smart_select

    image = owned_image_or_404(session, user, body.image_id)
    if image.status != ImageStatus.READY or not image.width or not image.height:
        raise HTTPException(status.HTTP_409_CONFLICT, "the image's upload has not been completed")
    width, height = image.width, image.height
    if body.box is not None:
        x1, y1, x2, y2 = body.box
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"box {body.box} is outside the {width}x{height} image"
            )
    if body.point is not None:
        px, py = body.point
        if not (0 <= px < width and 0 <= py < height):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"point {body.point} is outside the {width}x{height} image"
            )
        if body.box is not None and not (body.box[0] <= px < body.box[2] and body.box[1] <= py < body.box[3]):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"point {body.point} is outside the box")
    data = storage.get(image.storage_key)
    try:
        selection = smart_select(data, size=(width, height), box=body.box, point=body.point)
    except SelectionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.message) from exc
    return SelectionPublic(
        image_id=image.id,
        width=width,
        height=height,
        box=selection.box,
        area=int(selection.mask.sum()),
        mask=selection.rle(),
        png_base64=selection.png_base64() if body.include_png else None,
        work_size=list(selection.work_size),
    )
