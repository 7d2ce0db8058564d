"""Fixtures for the locator: the seeded model registry, AWS mode under moto, fake predictors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests.conftest import reset_app_state

BUCKET = "inpaint-test-images"
CLUSTER = "inpaint-test-locator"
FAMILY = "inpaint-test-locator"
CAPACITY_PROVIDER = "inpaint-test-gpu"


@pytest.fixture
def seeded(db: Session) -> None:
    """The models registry and access policies of app/seed/seed.json."""
    from app.core.config import get_settings
    from app.seed.service import run_seed

    run_seed(db, get_settings())


@pytest.fixture(autouse=True)
def _reset_locator_globals() -> Iterator[None]:
    yield
    from app.locator import dispatch, jobs
    from app.locator.predictors import clear_predictors

    clear_predictors()
    dispatch.running_in_task = False
    jobs.current_task_arn = None


@pytest.fixture
def aws(db: Session) -> Iterator[dict[str, Any]]:
    """APP_MODE=aws under moto: an S3 bucket, and the locator's ECS settings (no ECS objects yet)."""
    from moto import mock_aws

    env = {
        "APP_MODE": "aws",
        "S3_BUCKET": BUCKET,
        "LOCATOR_CLUSTER": CLUSTER,
        "LOCATOR_TASK_DEFINITION": FAMILY,
        "LOCATOR_CAPACITY_PROVIDER": CAPACITY_PROVIDER,
        "LOCATOR_CONTAINER_NAME": "locator",
    }
    with mock.patch.dict(os.environ, env), mock_aws():
        import boto3

        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's awsvpc ENIs need it
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
                "SubnetId"
            ]
            for i, zone in enumerate("ab")
        ]
        group = ec2.create_security_group(GroupName="locator", Description="locator tasks", VpcId=vpc)["GroupId"]
        os.environ["LOCATOR_SUBNETS"] = ",".join(subnets)
        os.environ["LOCATOR_SECURITY_GROUPS"] = group
        reset_app_state()
        from app.core import aws as aws_clients

        aws_clients.client("s3").create_bucket(Bucket=BUCKET)
        yield {**env, "subnets": subnets, "security_groups": [group]}
    reset_app_state()


def ecs_setup(ecs: Any, ec2: Any) -> dict[str, str]:
    """A cluster with a GPU task definition, a capacity provider and one container instance."""
    import json

    ecs.create_cluster(clusterName=CLUSTER)
    ecs.create_capacity_provider(
        name=CAPACITY_PROVIDER,
        autoScalingGroupProvider={
            "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
            "11111111-2222-3333-4444-555555555555:autoScalingGroupName/locator",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100},
            "managedTerminationProtection": "DISABLED",
        },
    )
    ecs.put_cluster_capacity_providers(
        cluster=CLUSTER,
        capacityProviders=[CAPACITY_PROVIDER],
        defaultCapacityProviderStrategy=[{"capacityProvider": CAPACITY_PROVIDER, "weight": 1}],
    )
    definition = ecs.register_task_definition(
        family=FAMILY,
        requiresCompatibilities=["EC2"],
        networkMode="awsvpc",
        containerDefinitions=[
            {
                "name": "locator",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/inpaint-locator:test",
                "cpu": 1024,
                "memory": 2048,
                "essential": True,
                "command": ["python", "-m", "functions.locator_task"],
                "resourceRequirements": [{"type": "GPU", "value": "1"}],
            }
        ],
    )["taskDefinition"]
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="g4dn.xlarge")["Instances"][0]

    placement = instance["Placement"]["AvailabilityZone"]
    # The instance identity document the ECS agent sends (moto reads its instanceId).
    document = json.dumps(
        {
            "accountId": "123456789012",
            "architecture": "x86_64",
            "availabilityZone": placement,
            "imageId": instance["ImageId"],
            "instanceId": instance["InstanceId"],
            "instanceType": instance["InstanceType"],
            "pendingTime": "2026-11-22T10:00:00Z",
            "privateIp": instance["PrivateIpAddress"],
            "region": placement[:-1],
            "version": "2017-09-30",
        }
    )
    ecs.register_container_instance(cluster=CLUSTER, instanceIdentityDocument=document)
    return {"task_definition_arn": definition["taskDefinitionArn"]}


@dataclass
class FixedPredictor:
    """Follows the Predictor interface; returns the same detections for every image."""

    detections: list[Any]
    calls: list[int] = field(default_factory=list)

    def predict(self, images: list[np.ndarray]) -> list[list[Any]]:
        self.calls.append(len(images))
        return [list(self.detections) for _ in images]


class RaisingPredictor:
    def predict(self, images: list[np.ndarray]) -> list[list[Any]]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def fixed_detections(width: int, height: int) -> list[Any]:
    from app.locator.predictors import RawDetection

    mask = np.zeros((height, width), bool)
    mask[10:30, 20:50] = True
    return [
        RawDetection(label="dog", score=0.92, box=(20, 10, 50, 30), mask=mask),
        RawDetection(label="person", score=0.81, box=(5, 5, 15, 40)),
        RawDetection(label="cat", score=0.30, box=(0, 0, 8, 8)),  # under the default threshold
    ]


def make_image(session: Session, owner_id: uuid.UUID, data: bytes) -> Any:
    from app.images.service import check_image, store_image
    from app.storage import get_storage

    checked = check_image(data, max_bytes=10_000_000, max_pixels=10_000_000)
    return store_image(session, get_storage(), owner_id=owner_id, checked=checked)


def make_job(session: Session, *, owner_id: uuid.UUID, image_id: uuid.UUID, model: str, **input_: Any) -> Any:
    from app.jobs.models import Job, JobStatus

    job = Job(
        id=uuid.uuid4(),
        owner_id=owner_id,
        kind="locate",
        model=model,
        status=JobStatus.QUEUED,
        input={"image_id": str(image_id), "score_threshold": 0.5, "labels": None, **input_},
        request_hash=uuid.uuid4().hex * 2,
    )
    session.add(job)
    session.commit()
    return job
