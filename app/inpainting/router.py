from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.api.deps import RequiredCredentialDep, authenticate, run_blocking, unauthorized
from app.auth.service import access_token_user_id
from app.catalog.service import ModelUnavailable
from app.core.config import Settings, get_settings
from app.core.db import autocommit_session
from app.core.schemas import ErrorMessage, error_responses
from app.core.secrets import jwt_secret
from app.images.models import ImageStatus
from app.inpainting import service
from app.inpainting.masks import MaskError
from app.inpainting.schemas import InpaintingCreate
from app.jobs.context import SubmitContext, choose_model, load_submit_context
from app.jobs.schemas import JobPublic
from app.jobs.submit import IdempotencyKey, Prefer, submit_job
from app.storage import Storage, get_storage

router = APIRouter(prefix="/inpaintings", tags=["inpaintings"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={
        **error_responses(403, 404, 409, 429, 503),
        404: {"model": ErrorMessage, "description": "The image is not yours or does not exist."},
        409: {
            "model": ErrorMessage,
            "description": "The image's upload is not complete, or the Idempotency-Key was used for another body.",
        },
    },
)
async def create_inpainting(
    body: InpaintingCreate,
    request: Request,
    credential: RequiredCredentialDep,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> JSONResponse:
    """Regenerate the masked region of an image from a prompt, as a job.

    Answers 202 with the job (poll `GET /v1/jobs/{id}`, or send `Prefer: wait=N`). On success
    `output` is `{image_id, url}`: a new image at the input's full resolution. As PNG (the
    default) every pixel outside the mask is the input's own; `output_format: jpeg|webp` trades
    that for a several times smaller file (see docs/inpainting.md). With a `seed`, an identical
    request to a model that honours seeds (the OpenCV fills) reuses the earlier result
    (`output.cached`); the SD2 endpoint ignores seeds, so each of its requests is a new sample.

    422: an invalid request, or a mask that cannot be used (empty, the whole image, out of
    bounds, not a PNG, another size than the image).
    """
    # Async, with all of its blocking work in one go (auth included) on one session: inline in
    # a Lambda container, one threadpool call under a server. A sync route and a sync auth
    # dependency cost two hops and two commits.
    return await run_blocking(request, lambda: _create(body, request, credential, idempotency_key, prefer))


def _create(
    body: InpaintingCreate, request: Request, credential: str, idempotency_key: str | None, prefer: str | None
) -> JSONResponse:
    settings, storage = get_settings(), get_storage()
    # Every statement of a submit is a read or an atomic write: autocommit on PostgreSQL.
    with autocommit_session() as session:
        # An access token names its user: the user, the image and the models are then read in
        # one statement. An API key is looked up first (its own query), then the same.
        user_id = access_token_user_id(credential, jwt_secret=jwt_secret(settings))
        if user_id is None:
            user_id = authenticate(request, session, settings, credential).id
        context = load_submit_context(
            session, settings, user_id=user_id, image_id=body.image_id, kind=service.KIND, name=body.model
        )
        if context is None:
            raise unauthorized(credential)
        request.state.user_id = str(user_id)
        return _submit(body, request, session, settings, storage, context, idempotency_key, prefer)


def _submit(
    body: InpaintingCreate,
    request: Request,
    session: Session,
    settings: Settings,
    storage: Storage,
    context: SubmitContext,
    idempotency_key: str | None,
    prefer: str | None,
) -> JSONResponse:
    user = context.caller
    try:
        access = choose_model(context, session, settings, kind=service.KIND, name=body.model)
    except ModelUnavailable as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    model = access.model
    image = context.image
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "image not found")
    if image.status != ImageStatus.READY:
        raise HTTPException(status.HTTP_409_CONFLICT, "the image's upload has not been completed")
    try:
        mask = service.prepare_mask(session, storage, owner_id=user.id, image=image, spec=body.mask)
    except MaskError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.message) from exc
    params = service.resolve_params(body, model)
    output = service.output_options(body)
    key = service.cache_key(
        image_sha256=image.sha256,
        mask_sha256=mask.sha256,
        params=params,
        model=model.name,
        backend=model.backend,
        output=output,
    )
    job_input = {**service.job_input(image, mask, params, body.mask), **output}
    return submit_job(
        request=request,
        session=session,
        settings=settings,
        user=user,
        kind=service.KIND,
        model=model,
        request_body=body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        prefer=prefer,
        build_input=lambda _job_id: job_input,
        cache_key=key,
        completed=lambda key: service.cached_output(session, owner_id=user.id, key=key),
        access=access,
    )
