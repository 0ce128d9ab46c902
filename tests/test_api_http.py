"""HTTP semantics: ETag and If-Match, lost races, Idempotency-Key, the OpenAPI document and
the offline docs."""
from __future__ import annotations

import re
import threading
from uuid import UUID

import pytest

from api.http.app import create_app
from api.idempotency import IdempotencyStore, StoredAnswer, fingerprint
from api.root import Root
from domain.pairing import Pairing
from tests.api_support import API_START as START
from tests.api_support import JsonClient
from workflows.store.clock import FakeClock
from workflows.engine import Engine

V = "/api/v1"


@pytest.fixture
def world(templates, tmp_path):
    opened = []

    def open_world(setup: str = "in_force"):
        engine, settings, cast, ids = templates.open(setup, tmp_path / "var")
        opened.append(engine)
        return engine, settings, cast, ids, JsonClient(create_app(Root(settings, engine)).test_client())

    yield open_world
    for engine in opened:
        engine.close()


def renew(http, cast, pairing, term_end="2028-12-31", **headers):
    return http.post(f"{V}/pairings/{pairing}/renew", cast.tokens["supervisor"],
                     {"term_end": term_end}, headers=headers)


class TestVersions:
    def test_etag_is_the_aggregate_version_and_if_match_guards_commands(self, world):
        engine, _, cast, ids, http = world()
        p = ids["pairing"]
        read = http.get(f"{V}/pairings/{p}", cast.tokens["agency"])
        version = read.expect(200)["version"]
        assert read.header("ETag") == f'"{version}"'

        done = renew(http, cast, p, **{"If-Match": f'"{version}"'})
        assert done.expect(200)["version"] == version + 1
        assert done.header("ETag") == f'"{version + 1}"'

        before = engine.recorder.max_notification_id()
        stale = renew(http, cast, p, "2029-12-31", **{"If-Match": f'"{version}"'})
        assert stale.status == 412
        assert stale.json["type"] == "urn:cobuild:problem:stale-version"
        assert stale.json["current_etag"] == f'"{version + 1}"'
        assert engine.recorder.max_notification_id() == before

        assert renew(http, cast, p, "2029-12-31", **{"If-Match": f'W/"{version + 1}"'}).status == 200
        assert renew(http, cast, p, "2030-12-31", **{"If-Match": "*"}).status == 200
        assert renew(http, cast, p, "2031-12-31").status == 200

    def test_a_save_that_loses_a_race_answers_409_and_writes_nothing(self, world, tmp_path):
        engine, settings, cast, ids, _ = world("proposed")
        both_loaded = threading.Barrier(2, timeout=10)

        class RacingEngine(Engine):
            """Holds each accept after loading, until both have loaded the same version."""

            def load(self, cls, aggregate_id, expected_version=None, **options):
                aggregate = super().load(cls, aggregate_id, expected_version, **options)
                if cls is Pairing and threading.current_thread().name.startswith("racer"):
                    both_loaded.wait()
                return aggregate

        racing = RacingEngine(env=settings.eventsourcing_env(), clock=FakeClock(START))
        http = JsonClient(create_app(Root(settings, racing)).test_client())
        answers = []

        def accept(on_behalf: str | None) -> None:
            body = {"on_behalf_of": on_behalf, "reason": "村支书外出培训"} if on_behalf else {}
            token = cast.tokens["supervisor" if on_behalf else "village"]
            answers.append(http.post(f"{V}/pairings/{ids['pairing']}/accept", token, body))

        racers = [threading.Thread(target=accept, args=(arg,), name=f"racer-{i}")
                  for i, arg in enumerate((None, str(cast.orgs["V1"])))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(a.status for a in answers) == [200, 409]
        lost = next(a for a in answers if a.status == 409)
        assert lost.json["type"] == "urn:cobuild:problem:conflict"
        assert racing.repository.get(UUID(ids["pairing"])).version == 2  # one acceptance only
        racing.close()


class TestIdempotency:
    def propose(self, http, cast, key, receiver="V2", **extra):
        body = {"giver_id": str(cast.orgs["G1"]), "receiver_id": str(cast.orgs[receiver]),
                "term_start": "2025-03-01", "term_end": "2027-02-28", **extra}
        return http.post(f"{V}/pairings", cast.tokens["agency"], body,
                         headers={"Idempotency-Key": key})

    def test_a_retry_returns_the_first_answer_and_writes_nothing(self, world):
        engine, _, cast, _, http = world()
        first = self.propose(http, cast, "propose-G1-V2-0001")
        assert first.status == 201
        after_first = engine.recorder.max_notification_id()
        retry = self.propose(http, cast, "propose-G1-V2-0001")
        assert retry.status == 201
        assert retry.json == first.json
        assert retry.header("Location") == first.header("Location")
        assert retry.header("ETag") == first.header("ETag")
        assert retry.header("Idempotent-Replayed") == "true"
        assert engine.recorder.max_notification_id() == after_first

    def test_the_same_key_with_another_body_is_refused(self, world):
        engine, _, cast, _, http = world()
        assert self.propose(http, cast, "k-0002").status == 201
        before = engine.recorder.max_notification_id()
        other = self.propose(http, cast, "k-0002", areas=["industry"])
        assert other.status == 422
        assert other.json["type"] == "urn:cobuild:problem:idempotency-key-reused"
        assert engine.recorder.max_notification_id() == before

    def test_key_order_and_spacing_do_not_make_another_body(self, world):
        _, _, cast, _, http = world()
        body = ('{"giver_id": "%s", "receiver_id": "%s", "term_start": "2025-03-01", '
                '"term_end": "2027-02-28"}' % (cast.orgs["G1"], cast.orgs["V2"]))
        reordered = ('{"term_end":"2027-02-28","term_start":"2025-03-01","receiver_id":"%s",'
                     '"giver_id":"%s"}' % (cast.orgs["V2"], cast.orgs["G1"]))
        headers = {"Idempotency-Key": "k-0003", "Content-Type": "application/json"}
        first = http.request("POST", f"{V}/pairings", cast.tokens["agency"], data=body, headers=headers)
        again = http.request("POST", f"{V}/pairings", cast.tokens["agency"], data=reordered, headers=headers)
        assert (first.status, again.status) == (201, 201)
        assert again.header("Idempotent-Replayed") == "true"

    def test_keys_belong_to_their_user(self, world):
        _, _, cast, _, http = world()
        assert self.propose(http, cast, "shared-key").status == 201
        raised = http.post(f"{V}/tasks", cast.tokens["village"],
                           {"receiver_id": str(cast.orgs["V1"]), "category": "health",
                            "title": "巡回义诊"}, headers={"Idempotency-Key": "shared-key"})
        assert raised.status == 201 and raised.header("Idempotent-Replayed") is None

    def test_answers_survive_a_restart(self, world):
        engine, settings, cast, _, http = world()
        first = self.propose(http, cast, "k-restart")
        restarted = JsonClient(create_app(Root(settings, engine)).test_client())
        retry = self.propose(restarted, cast, "k-restart")
        assert retry.json == first.json and retry.header("Idempotent-Replayed") == "true"

    def test_a_refusal_is_not_kept_so_a_retry_runs_again(self, world):
        engine, _, cast, _, http = world()
        refused = self.propose(http, cast, "k-refused", receiver="V1")  # V1 is already paired
        assert refused.status == 409
        engine.terminate_pairing(cast.actors["supervisor"],
                                 engine.pairing_in_force_between(cast.orgs["G1"], cast.orgs["V1"]).id,
                                 "重新结对")
        retry = self.propose(http, cast, "k-refused", receiver="V1")
        assert retry.status == 201 and retry.header("Idempotent-Replayed") is None

    def test_a_key_still_in_flight_answers_409(self, world):
        engine, settings, cast, _, http = world()
        store = IdempotencyStore(settings, engine.clock)
        path = f"{V}/pairings"
        body = ('{"giver_id": "%s", "receiver_id": "%s", "term_start": "2025-03-01", '
                '"term_end": "2027-02-28"}' % (cast.orgs["G1"], cast.orgs["V2"]))
        assert store.begin(str(cast.users["agency"]), "k-flight",
                           fingerprint("POST", path, body.encode())) is None
        before = engine.recorder.max_notification_id()
        busy = http.request("POST", path, cast.tokens["agency"], data=body,
                            headers={"Idempotency-Key": "k-flight", "Content-Type": "application/json"})
        assert busy.status == 409
        assert busy.json["type"] == "urn:cobuild:problem:idempotency-key-in-use"
        assert engine.recorder.max_notification_id() == before
        engine.clock.advance(minutes=2)  # the first request's process died: its claim lapses
        retry = http.request("POST", path, cast.tokens["agency"], data=body,
                             headers={"Idempotency-Key": "k-flight", "Content-Type": "application/json"})
        assert retry.status == 201


class TestDocuments:
    def test_openapi_document_is_generated_from_the_schemas(self, world):
        _, _, _, _, http = world("none")
        doc = http.get("/api/openapi.json").expect(200)
        assert doc["openapi"].startswith("3.")
        paths = doc["paths"]
        for path in ("/api/v1/pairings", "/api/v1/pairings/{pairing_id}/accept",
                     "/api/v1/commitments/{commitment_id}/claim-fulfilment",
                     "/api/v1/tasks/{task_id}/deliver",
                     "/api/v1/audit/{resource}/{aggregate_id}/history"):
            assert path in paths, path
        propose = paths["/api/v1/pairings"]["post"]
        body = propose["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/ProposePairing"}
        assert "application/problem+json" in doc["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
        assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"

    def test_docs_are_served_from_the_package_without_a_cdn(self, world):
        _, _, _, _, http = world("none")
        page = http.get("/api/docs")
        assert page.status == 200
        html = page.content.decode()
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/api/_assets/swagger-ui/") for a in assets), assets
        for asset in assets:
            assert http.get(asset).status == 200, asset


class TestIdempotencyStore:
    """The store itself, on the suite's database (PostgreSQL when the suite runs there)."""

    @pytest.fixture
    def stores(self, settings, clock):
        from workflows.store.schema import ensure_schema

        ensure_schema(settings)
        opened = []

        def open_store():
            opened.append(IdempotencyStore(settings, clock))
            return opened[-1]

        yield open_store
        for store in opened:
            store.close()

    def test_a_claim_is_seen_by_another_process_store_and_its_answer_replayed(self, settings, stores):
        first, second = stores(), stores()
        assert first.begin("u1", "k1", "print-a") is None
        with pytest.raises(Exception, match="still being processed"):
            second.begin("u1", "k1", "print-a")
        with pytest.raises(Exception, match="different request"):
            second.begin("u1", "k1", "print-b")
        first.finish("u1", "k1", StoredAnswer(201, {"ETag": '"1"'}, '{"id": "x"}'))
        assert second.begin("u1", "k1", "print-a") == StoredAnswer(201, {"ETag": '"1"'}, '{"id": "x"}')
        assert second.begin("u2", "k1", "print-a") is None  # keys are per principal
        assert second.count() == 2
        # On PostgreSQL the records are in the database, not in a file on this host.
        assert (settings.home / "idempotency.sqlite").exists() is not settings.is_postgres

    def test_of_requests_racing_with_one_key_exactly_one_claims_it(self, stores):
        racers = [stores() for _ in range(6)]
        gate = threading.Barrier(len(racers))
        claimed, refused = [], []

        def race(store):
            gate.wait()
            try:
                claimed.append(store.begin("u1", "race", "print-a"))
            except Exception as problem:
                refused.append(problem)

        threads = [threading.Thread(target=race, args=(s,)) for s in racers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert claimed == [None] and len(refused) == len(racers) - 1
        assert racers[0].count() == 1

    def test_a_released_or_expired_key_can_be_claimed_again(self, stores, clock):
        store = stores()
        assert store.begin("u1", "k", "print-a") is None
        store.release("u1", "k")
        assert store.begin("u1", "k", "print-b") is None
        store.finish("u1", "k", StoredAnswer(200, {}, "{}"))
        store.release("u1", "k")  # a finished answer is not released
        assert store.begin("u1", "k", "print-b") == StoredAnswer(200, {}, "{}")
        clock.advance(hours=25)
        assert store.begin("u1", "k", "print-c") is None
