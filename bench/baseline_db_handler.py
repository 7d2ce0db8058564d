"""A second baseline: bare FastAPI + Mangum + a SQLAlchemy ORM session doing SELECT 1 —
the floor for any handler that touches its database on every request."""

import os

from fastapi import FastAPI
from mangum import Mangum
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

app = FastAPI()
engine = create_engine(os.environ["DATABASE_URL"])


@app.get("/health")
def health() -> dict[str, str]:
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}


handler = Mangum(app, lifespan="off")
