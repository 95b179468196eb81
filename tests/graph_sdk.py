"""Microsoft's msgraph-beta-sdk as an independent client of the Graph emulator (self-tests only).

    client = sdk_client(base_url, token)            # inside a coroutine: the SDK is async
    states = await certificate_states(client, profile_id, type_name)

The SDK is used as shipped: its request builders, its models and its middleware (the retry
handler is what honours 429 + Retry-After). Two routes have no request builder in the SDK and are
reached through a builder of the same shape with `with_url` (the SDK's own escape hatch):
  * .../deviceConfigurations/{id}/microsoft.graph.{type}/managedDeviceCertificateStates: parsed
    by CertificateStateCollection, a collection response written the way the SDK writes its own
    (BaseCollectionPaginationCountResponse + a `value` of ManagedDeviceCertificateState);
  * POST .../managedDevices/{id}/users/$ref: the groups' members $ref builder, re-pointed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import httpx

from kiota_abstractions.authentication import (AccessTokenProvider, AllowedHostsValidator,
                                               BaseBearerTokenAuthenticationProvider)
from kiota_abstractions.serialization import Parsable, ParseNode, SerializationWriter
from msgraph_beta import GraphRequestAdapter, GraphServiceClient
from msgraph_beta.graph_request_adapter import options as SDK_OPTIONS
from msgraph_core import APIVersion, GraphClientFactory
from msgraph_beta.generated.models.base_collection_pagination_count_response import \
    BaseCollectionPaginationCountResponse
from msgraph_beta.generated.models.managed_device_certificate_state import ManagedDeviceCertificateState
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.models.reference_create import ReferenceCreate


class StaticToken(AccessTokenProvider):
    """A configured static bearer token (the emulator's); no Azure credential involved."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(self, uri: str, additional_authentication_context=None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([])


def sdk_client(base_url: str, token: str, seen: list | None = None) -> GraphServiceClient:
    """A GraphServiceClient (beta) pointed at the emulator with the SDK's default middleware
    (retry on 429, redirects, telemetry). With `seen`, every request the SDK sends is appended
    to it as (method, path)."""
    hooks = {"request": [_recorder(seen)]} if seen is not None else {}
    http = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.beta, client=httpx.AsyncClient(event_hooks=hooks), options=SDK_OPTIONS)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
    adapter.base_url = f"{base_url}/beta"
    return GraphServiceClient(request_adapter=adapter)


def _recorder(seen: list):
    async def record(request: httpx.Request) -> None:
        seen.append((request.method, request.url.path))
    return record


@dataclass
class CertificateStateCollection(BaseCollectionPaginationCountResponse, Parsable):
    value: Optional[list[ManagedDeviceCertificateState]] = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> "CertificateStateCollection":
        return CertificateStateCollection()

    def get_field_deserializers(self) -> dict[str, Callable[[ParseNode], None]]:
        fields: dict[str, Callable[[Any], None]] = {
            "value": lambda n: setattr(self, "value", n.get_collection_of_object_values(ManagedDeviceCertificateState)),
        }
        fields.update(super().get_field_deserializers())
        return fields

    def serialize(self, writer: SerializationWriter) -> None:
        super().serialize(writer)
        writer.write_collection_of_object_values("value", self.value)


ERRORS = {"XXX": ODataError}


async def certificate_states_page(client: GraphServiceClient, url: str) -> CertificateStateCollection:
    """One page of managedDeviceCertificateStates at `url` (an absolute URL, e.g. a nextLink)."""
    builder = client.device_management.device_configurations.with_url(url)
    info = builder.to_get_request_information()
    return await client.request_adapter.send_async(info, CertificateStateCollection,
                                                   ERRORS)


async def certificate_states(client: GraphServiceClient, profile_id: str, type_name: str) -> list:
    """Every managedDeviceCertificateState of the profile, following @odata.nextLink."""
    base = client.request_adapter.base_url
    url = f"{base}/deviceManagement/deviceConfigurations/{profile_id}/microsoft.graph.{type_name}/" \
          "managedDeviceCertificateStates"
    found = []
    while url:
        page = await certificate_states_page(client, url)
        found += page.value or []
        url = page.odata_next_link
    return found


async def set_primary_user(client: GraphServiceClient, device_id: str, user_id: str) -> None:
    base = client.request_adapter.base_url
    builder = client.groups.by_group_id("x").members.ref.with_url(
        f"{base}/deviceManagement/managedDevices/{device_id}/users/$ref")
    await builder.post(ReferenceCreate(odata_id=f"https://graph.microsoft.com/beta/users/{user_id}"))


async def follow(first, builder_of_url) -> list:
    """Every item of a collection: `first` page, then each @odata.nextLink through the SDK."""
    items, page = list(first.value or []), first
    while page.odata_next_link:
        page = await builder_of_url(page.odata_next_link).get()
        items += page.value or []
    return items
