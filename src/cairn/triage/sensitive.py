"""Sensitive CloudTrail actions by category: the data table triage flags activity with.

Each row is (category, event_source, event_name). Categories follow the issue: IAM changes,
logging and monitoring tampering, key and secret access, sharing of snapshots and images,
security-group openings, plus persistence / credential and organisation changes. Some actions
are only sensitive with certain parameters (a snapshot shared with another account, a
security-group rule open to the internet); :data:`DETAIL_SQL` describes those per event.
"""

from __future__ import annotations

import pyarrow as pa

_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "iam_change": {
        "iam.amazonaws.com": (
            "AddUserToGroup", "AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy", "CreateAccessKey",
            "CreateLoginProfile", "CreatePolicy", "CreatePolicyVersion", "CreateRole", "CreateUser",
            "CreateServiceLinkedRole", "DeleteRolePermissionsBoundary", "DeleteUserPermissionsBoundary",
            "PutGroupPolicy", "PutRolePolicy", "PutUserPolicy", "SetDefaultPolicyVersion",
            "UpdateAssumeRolePolicy", "UpdateLoginProfile", "UpdateAccessKey", "CreateVirtualMFADevice",
            "DeactivateMFADevice", "DeleteVirtualMFADevice", "CreateSAMLProvider", "CreateOpenIDConnectProvider",
            "UpdateSAMLProvider", "AddRoleToInstanceProfile", "PassRole",
        ),
        "sso.amazonaws.com": ("CreatePermissionSet", "AttachManagedPolicyToPermissionSet",
                              "PutInlinePolicyToPermissionSet", "CreateAccountAssignment"),
        "rolesanywhere.amazonaws.com": ("CreateTrustAnchor", "CreateProfile"),
        "sts.amazonaws.com": ("GetFederationToken",),
    },
    "logging_tampering": {
        "cloudtrail.amazonaws.com": ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors",
                                     "PutInsightSelectors", "DeleteEventDataStore", "StopEventDataStoreIngestion"),
        "ec2.amazonaws.com": ("DeleteFlowLogs",),
        "route53resolver.amazonaws.com": ("DeleteResolverQueryLogConfig", "DisassociateResolverQueryLogConfig"),
        "logs.amazonaws.com": ("DeleteLogGroup", "DeleteLogStream", "PutRetentionPolicy",
                               "DeleteSubscriptionFilter"),
        "s3.amazonaws.com": ("PutBucketLogging",),
        "config.amazonaws.com": ("StopConfigurationRecorder", "DeleteConfigurationRecorder",
                                 "DeleteDeliveryChannel"),
    },
    "monitoring_tampering": {
        "guardduty.amazonaws.com": ("DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount",
                                    "DisassociateFromAdministratorAccount", "CreateIPSet", "UpdateIPSet",
                                    "DeleteMembers", "CreateFilter", "UpdateFilter", "ArchiveFindings"),
        "securityhub.amazonaws.com": ("DisableSecurityHub", "BatchDisableStandards", "DeleteInsight",
                                      "BatchUpdateFindings", "UpdateFindings"),
        "cloudwatch.amazonaws.com": ("DeleteAlarms", "DisableAlarmActions"),
        "access-analyzer.amazonaws.com": ("DeleteAnalyzer",),
        "organizations.amazonaws.com": ("LeaveOrganization", "RemoveAccountFromOrganization",
                                        "DisableAWSServiceAccess"),
    },
    "key_secret_access": {
        "secretsmanager.amazonaws.com": ("GetSecretValue", "BatchGetSecretValue", "PutSecretValue",
                                         "DeleteSecret"),
        "ssm.amazonaws.com": ("GetParameter", "GetParameters", "GetParametersByPath"),
        "kms.amazonaws.com": ("Decrypt", "DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant"),
        "ec2.amazonaws.com": ("GetPasswordData",),
        "sts.amazonaws.com": ("GetSessionToken",),
    },
    "snapshot_image_sharing": {
        "ec2.amazonaws.com": ("ModifySnapshotAttribute", "ModifyImageAttribute", "CopySnapshot",
                              "SharedSnapshotCopyInitiated"),
        "rds.amazonaws.com": ("ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"),
    },
    "security_group_opening": {
        "ec2.amazonaws.com": ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
                              "ModifySecurityGroupRules", "CreateSecurityGroup"),
    },
    "execution_access": {
        "ssm.amazonaws.com": ("SendCommand", "StartSession"),
        "ec2-instance-connect.amazonaws.com": ("SendSSHPublicKey", "SendSerialConsoleSSHPublicKey"),
        "ec2.amazonaws.com": ("ModifyInstanceAttribute", "RunInstances"),
        "lambda.amazonaws.com": ("UpdateFunctionCode20150331v2", "UpdateFunctionCode", "AddPermission20150331v2",
                                 "AddPermission", "PublishLayerVersion20181031", "UpdateFunctionConfiguration20150331v2"),
        "bedrock.amazonaws.com": ("InvokeModel", "InvokeModelWithResponseStream"),
    },
    "console_login": {
        "signin.amazonaws.com": ("ConsoleLogin",),
    },
}

#: Extra detail per event (SQL over the activity row): why a flagged call matters.
DETAIL_SQL = r"""
CASE
  WHEN event_name IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
       AND regexp_matches(request_parameters, '/0\s*"')  -- 0.0.0.0/0, ::/0: any address
       THEN 'open to the internet'
  WHEN event_name IN ('ModifySnapshotAttribute', 'ModifyImageAttribute', 'ModifyDBSnapshotAttribute',
                      'ModifyDBClusterSnapshotAttribute')
       AND (contains(request_parameters, '"add"') OR contains(request_parameters, 'valuesToAdd')
            OR contains(lower(request_parameters), '"all"'))
       THEN 'shared with another account or made public'
  WHEN event_name = 'ConsoleLogin' AND identity_type = 'Root'
       THEN 'root console sign-in'
  ELSE NULL END
"""


def sensitive_table() -> pa.Table:
    """The data table as Arrow: category, event_source, event_name."""
    rows = [(cat, src, name) for cat, by_src in _TABLE.items() for src, names in by_src.items() for name in names]
    cat, src, name = (list(x) for x in zip(*rows, strict=True))
    return pa.table({"category": cat, "event_source": src, "event_name": name})


def categories() -> list[str]:
    """Category names in display order."""
    return list(_TABLE)
