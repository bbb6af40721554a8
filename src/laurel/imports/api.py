from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from laurel.config import Settings
from laurel.imports import service
from laurel.imports.models import FileFormat, Import, ImportKind, ImportMapping, ImportStatus
from laurel.imports.readers import FileError, detect_format
from laurel.imports.runner import ImportRunner
from laurel.imports.schemas import (
    ImportOut,
    MappingIn,
    MappingName,
    MappingOut,
    RejectedRow,
    RowError,
)
from laurel.kit.errors import AppError, Conflict, Invalid, field_error
from laurel.kit.http import (
    Cursor,
    DatabaseDep,
    EventWriter,
    Limit,
    LiveAdmin,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.kit.validation import describe_errors

router = APIRouter(prefix="/api/v1", tags=["imports"])

PREVIEW_ROWS = 50


class FileTooLarge(AppError):
    status = 413
    code = "file_too_large"


def import_out(imp: Import, rejected: list[Any]) -> ImportOut:
    return ImportOut(
        id=imp.id,
        kind=ImportKind(imp.kind),
        status=ImportStatus(imp.status),
        livemode=imp.livemode,
        filename=imp.filename,
        format=FileFormat(imp.format),
        sha256=imp.sha256,
        size_bytes=imp.size_bytes,
        mapping_name=imp.mapping_name,
        columns=imp.mapping.get("columns", {}),
        options=imp.mapping.get("options", {}),
        rows_total=imp.rows_total,
        rows_read=imp.rows_read,
        accepted=imp.accepted,
        replayed=imp.replayed,
        rejected=imp.rejected,
        warnings=imp.warnings,
        rewards=imp.rewards,
        error=imp.error,
        rejected_rows=[
            RejectedRow(line=r.line, errors=[RowError(**e) for e in r.errors]) for r in rejected
        ],
        rejections_csv=f"/api/v1/imports/{imp.id}/rejections.csv",
        created_at=imp.created_at,
        finished_at=imp.finished_at,
    )


def _json_form(name: str, text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise field_error(name, f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise field_error(name, "nested too deeply to be a mapping") from None
    if not isinstance(value, dict):
        raise field_error(name, "must be a JSON object")
    return value


def _store(upload: UploadFile, settings: Settings) -> service.FileFacts:
    """Copy the upload next to the database's other import files, hashing it on the way."""
    folder = Path(settings.imports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.upload"
    digest = hashlib.sha256()
    size = 0
    head = b""
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            if not head:
                head = chunk[:8]
            size += len(chunk)
            if size > settings.import_max_bytes:
                out.close()
                path.unlink(missing_ok=True)
                raise FileTooLarge(
                    f"the file is larger than {settings.import_max_bytes} bytes "
                    "(LAUREL_IMPORT_MAX_BYTES); split it or use `laurel import`"
                )
            digest.update(chunk)
            out.write(chunk)
    name = upload.filename or "upload"
    return service.FileFacts(name, path, size, digest.hexdigest(), detect_format(name, head))


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    responses=errors(401, 403, 404, 409, 413, 422),
    summary="Import a completion report or an HR roster (CSV or XLSX)",
)
def create_import(
    request: Request,
    actor: EventWriter,
    db: DatabaseDep,
    file: Annotated[UploadFile, File(description="The CSV or XLSX file")],
    kind: Annotated[ImportKind, Form(description="completions or roster")] = (
        ImportKind.completions
    ),
    mapping: Annotated[str | None, Form(description="Name of a saved column mapping")] = None,
    columns: Annotated[
        str | None, Form(description='JSON object: field → header, e.g. {"learner_id": "User"}')
    ] = None,
    options: Annotated[str | None, Form(description="JSON object of import options")] = None,
) -> ImportOut:
    """Stores the file, checks its headers and answers 202 with the pending import; a background
    runner then imports it in chunks. Follow it with `GET /api/v1/imports/{id}`.

    Every good row is imported; every bad row is listed with its line, column and reason (the
    first ones here, all of them in `rejections.csv`). Rows are events with a stable id per
    learner, course and completion time, so uploading the same or an overlapping file again
    creates no second event and no second reward (`replayed`). A file whose headers do not
    serve the import is refused whole with 422. Rosters need a live admin key.
    """
    settings: Settings = request.app.state.settings
    explicit = _json_form("columns", columns)
    raw_options = _json_form("options", options)
    try:
        MappingIn.model_validate({"columns": explicit, "options": raw_options})
    except ValidationError as exc:
        raise Invalid(describe_errors(exc.errors())) from None
    facts = _store(file, settings)
    try:
        try:
            total = service.count_rows(facts.path, facts.format)
        except FileError as exc:
            raise service.ImportFileInvalid(
                [{"field": "file", "message": str(exc), "type": "file"}]
            ) from None
        with unit_of_work(db) as session:
            imp = service.create(
                session,
                actor,
                kind,
                facts,
                mapping_name=mapping,
                columns=explicit,
                options=raw_options,
                stored_path=facts.path,
                rows_total=total,
            )
            import_id = imp.id
    except BaseException:
        facts.path.unlink(missing_ok=True)
        raise
    runner: ImportRunner = request.app.state.import_runner
    out = _read(db, actor, import_id)
    runner.submit(import_id)
    return out


def _read(db: Any, actor: Any, import_id: uuid.UUID) -> ImportOut:
    with read_only(db) as session:
        imp = service.get(session, actor, import_id)
        return import_out(imp, service.rejections(session, imp.id, limit=PREVIEW_ROWS))


@router.get(
    "/imports",
    response_model=PageOut[ImportOut],
    responses=errors(401, 403),
    summary="List imports, newest first",
)
def list_imports(
    actor: Reader, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[ImportOut]:
    with read_only(db) as session:
        page = service.list_imports(session, actor, limit=limit, cursor=cursor)
        return PageOut[ImportOut](
            data=[import_out(i, []) for i in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.get(
    "/imports/{import_id}",
    response_model=ImportOut,
    responses=errors(401, 403, 404),
    summary="An import's progress and results",
)
def get_import(import_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> ImportOut:
    """`rows_read` of `rows_total` rows are done; `rejected_rows` shows the first bad rows."""
    return _read(db, actor, import_id)


@router.get(
    "/imports/{import_id}/rejections.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "line, errors, then the row's cells"},
        **errors(401, 403, 404),
    },
    summary="Download the rejected rows as CSV",
)
def get_rejections_csv(import_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> StreamingResponse:
    with read_only(db) as session:
        service.get(session, actor, import_id)

    def body() -> Iterator[str]:
        with read_only(db) as session:
            fresh = service.get(session, actor, import_id)
            yield from service.rejections_csv(session, fresh)

    filename = f"rejected-{import_id}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/imports/{import_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    responses=errors(401, 403, 404, 409),
    summary="Continue an import that was interrupted",
)
def resume_import(
    import_id: uuid.UUID, request: Request, actor: EventWriter, db: DatabaseDep
) -> ImportOut:
    """Queues the import again; it continues after its last committed chunk, so rows already
    done are not read again. The runner also resumes imports idle for two minutes by itself."""
    with read_only(db) as session:
        imp = service.get(session, actor, import_id)
        stored = imp.stored_path
        finished = imp.status in ("completed", "failed")
    if not finished:
        if stored is None:
            raise Conflict(
                "this import reads a file on the machine that started it: run the same "
                "`laurel import` command again there to continue"
            )
        runner: ImportRunner = request.app.state.import_runner
        runner.submit(import_id)
    return _read(db, actor, import_id)


# ---------------------------------------------------------------- mappings


def mapping_out(row: ImportMapping) -> MappingOut:
    return MappingOut(
        id=row.id,
        kind=ImportKind(row.kind),
        name=row.name,
        columns=row.columns,
        options=row.options,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.put(
    "/import-mappings/{kind}/{name}",
    response_model=MappingOut,
    responses=errors(401, 403, 422),
    summary="Save a column mapping for an LMS or HRIS export",
)
def save_mapping(
    kind: ImportKind, name: MappingName, body: MappingIn, actor: LiveAdmin, db: DatabaseDep
) -> MappingOut:
    """Creates or replaces the mapping; name it on an import with `mapping`."""
    with unit_of_work(db) as session:
        return mapping_out(service.save_mapping(session, actor, kind, name, body))


@router.get(
    "/import-mappings",
    response_model=list[MappingOut],
    responses=errors(401, 403),
    summary="List saved column mappings",
)
def list_mappings(
    actor: Reader, db: DatabaseDep, kind: ImportKind | None = None
) -> list[MappingOut]:
    with read_only(db) as session:
        return [mapping_out(m) for m in service.list_mappings(session, actor, kind)]


@router.get(
    "/import-mappings/{kind}/{name}",
    response_model=MappingOut,
    responses=errors(401, 403, 404),
    summary="Get a saved column mapping",
)
def get_mapping(kind: ImportKind, name: str, actor: Reader, db: DatabaseDep) -> MappingOut:
    with read_only(db) as session:
        return mapping_out(service.get_mapping(session, actor, kind, name))


@router.delete(
    "/import-mappings/{kind}/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
    summary="Delete a saved column mapping",
)
def delete_mapping(kind: ImportKind, name: str, actor: LiveAdmin, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        service.delete_mapping(session, actor, kind, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
