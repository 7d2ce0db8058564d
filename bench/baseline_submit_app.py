"""Figure 5's baseline: a bare FastAPI app whose one POST decodes an HS256 JWT (PyJWT) from the
Authorization header and inserts one row into the same PostgreSQL database.

    DATABASE_URL=postgresql+psycopg2://... JWT_SECRET=... uvicorn baseline_submit_app:app

A sync route (FastAPI runs it in the threadpool) and a SQLAlchemy engine with a normal pool,
as sized for the served app's 16 admitted requests. The table is created at import.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Annotated, Any

import jwt
from fastapi import FastAPI, Header, HTTPException
from sqlalchemy import Column, MetaData, Table, Text, Uuid, create_engine, insert

engine = create_engine(os.environ["DATABASE_URL"], pool_size=18, max_overflow=0)
metadata = MetaData()
submits = Table(
    "bench_baseline_submits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("body", Text, nullable=False),
)
metadata.create_all(engine)
SECRET = os.environ["JWT_SECRET"]

app = FastAPI()


@app.post("/v1/inpaintings", status_code=202)
def submit(body: dict[str, Any], authorization: Annotated[str, Header()] = "") -> dict[str, str]:
    scheme, _, token = authorization.partition(" ")
    try:
        claims = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            issuer="prompted-inpainting",
            audience="prompted-inpainting-api",
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise HTTPException(401, "invalid token") from exc
    if scheme.lower() != "bearer":
        raise HTTPException(401, "not authenticated")
    row_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(insert(submits).values(id=row_id, owner_id=uuid.UUID(claims["sub"]), body=json.dumps(body)))
    return {"id": str(row_id), "status": "queued"}
