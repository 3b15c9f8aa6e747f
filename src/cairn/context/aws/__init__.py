"""Organisational context from AWS: Organizations (accounts, OU paths, tags, alternate contacts) and
resource tags (EC2, IAM, S3) into the context tables, cached with a TTL. See docs/aws.md."""

from cairn.context.aws.clients import CallCounter, Clients
from cairn.context.aws.settings import AwsContextSettings, aws_context_settings, parse_duration
from cairn.context.aws.sync import ORG_SCOPE, RESOURCE_SCOPE, SyncReport, sync_aws

__all__ = ["ORG_SCOPE", "RESOURCE_SCOPE", "AwsContextSettings", "CallCounter", "Clients", "SyncReport",
           "aws_context_settings", "parse_duration", "sync_aws"]
