"""The --demo data: written through the admin API, readable and usable under the shipped rules."""

from __future__ import annotations

from pathlib import Path

from desktop_chat.client.chat_client import ChatClient
from desktop_chat.client.config import BackendConfig
from desktop_chat.client.demo import ACCOUNTS, DAYS_AHEAD, PROVIDER, SKILLS, STUDENT, seed_demo
from desktop_chat.client.embedded import read_admin_secret
from desktop_chat.client.rtdb import QuerySpec
from desktop_chat.client.token_store import MemoryTokenStore
from desktop_chat.core.model import Role, conversation_id
from tests.support.chat import run, unread, until
from tests.support.server import ServerProcess


def local(server: ServerProcess) -> BackendConfig:
    return BackendConfig.from_values({"server_url": server.url, "namespace": server.namespace})


async def signed_in(
    server: ServerProcess, directory: Path, email: str, password: str
) -> ChatClient:
    client = await ChatClient.create(local(server), directory, token_store=MemoryTokenStore())
    await client.sign_in(email, password)
    await client.start()
    return client


def test_the_demo_data_is_readable_and_usable_under_the_shipped_rules(
    own: ServerProcess, tmp_path: Path
) -> None:
    secret = read_admin_secret(own.data_dir)
    assert secret is not None

    async def main() -> None:
        uids = await seed_demo(local(own), secret)
        assert set(uids) == {account.key for account in ACCOUNTS}
        maya = await signed_in(own, tmp_path / "maya", STUDENT.email, STUDENT.password)
        leo = await signed_in(own, tmp_path / "leo", PROVIDER.email, PROVIDER.password)
        try:
            assert maya.me is not None and maya.me.role is Role.STUDENT
            assert maya.me.display_name == STUDENT.display_name

            async def lists_loaded() -> bool:
                return len(await maya.conversations()) == 2 and len(await leo.conversations()) == 2

            await until(lists_loaded, 30)
            main_cid = conversation_id(uids["maya"], uids["leo"])
            assert await unread(maya, main_cid) == 2
            assert await unread(leo, main_cid) == 0
            assert await unread(leo, conversation_id(uids["ana"], uids["leo"])) == 3
            history = await maya.load_older(main_cid, count=50)
            assert len(history) == 8
            assert [m.timestamp for m in history] == sorted(m.timestamp for m in history)
            assert history[-1].sender_id == uids["leo"] and not history[-1].read

            skills = await maya.db.get("skills")
            assert set(skills) == set(SKILLS)
            days = await maya.db.get("skillAvailability/demo-guitar")
            assert len(days) == DAYS_AHEAD
            slots = [slot for day in days.values() for slot in day.values()]
            assert sum(not slot["available"] for slot in slots) == 1  # Maya's booking
            bookings = await leo.db.query("bookings", QuerySpec("providerId", equal_to=uids["leo"]))
            assert [booking["status"] for _, booking in bookings] == ["requested"]

            # the seeded conversations take new messages and reads as written by the app
            await maya.mark_read(main_cid)
            assert await unread(maya, main_cid) == 0
            await maya.send_message(main_cid, "I practised G and C all evening!")

            async def arrived() -> bool:
                return await unread(leo, main_cid) == 1

            await until(arrived, 30)
        finally:
            await maya.close()
            await leo.close()

        again = await seed_demo(local(own), secret)  # a second start: nothing is doubled
        assert again == uids
        cids.append(main_cid)

    cids: list[str] = []
    run(main, timeout=90)
    assert len(own.get(f"conversations/{cids[0]}/messages")) == 9
