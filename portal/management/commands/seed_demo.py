import secrets
from pathlib import Path

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from jobs.intake.services import sample_create_from_plain_upload, sample_name_taken
from tenants import services
from tenants.models import Lab, Role

DEMO_LAB_SLUG = "demo"
DEMO_USERS = [
    ("clinician@demo.lab", "Demo clinician", Role.CLINICIAN, False),
    ("manager@demo.lab", "Demo lab manager", Role.MANAGER, False),
    ("staff@demo.lab", "Demo staff (admin)", None, True),
]


class Command(BaseCommand):
    help = ("Create the demo lab with a clinician, a lab manager and a staff user. Passwords are "
            "printed once, when the users are created; running it again changes nothing unless "
            "--reset-passwords is given.")

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true",
                            help="give the existing demo users new passwords and print them")
        parser.add_argument("--sample-from", metavar="DIR",
                            help="also upload DIR's *_R1/*_R2.fastq.gz as the demo sample DEMO1 "
                                 "(verified by the worker), unless the lab already has it")

    def handle(self, *args, reset_passwords: bool = False, sample_from: str | None = None,
               **options):
        self.seed_users(reset_passwords)
        if sample_from:
            self.seed_sample(Path(sample_from))

    def seed_sample(self, directory: Path) -> None:
        from django.core.files import File

        lab = Lab.objects.get(slug=DEMO_LAB_SLUG)
        if sample_name_taken(lab, "DEMO1"):
            return
        clinician = lab.memberships.get(user__email="clinician@demo.lab")
        r1, r2 = sorted(directory.glob("*_R1.fastq.gz"))[0], sorted(directory.glob("*_R2.fastq.gz"))[0]
        with open(r1, "rb") as h1, open(r2, "rb") as h2:
            sample_create_from_plain_upload(
                membership=clinician,
                data={"name": "DEMO1", "external_id": "PSN-DEMO-0001", "sex": "female",
                      "clinical_indication": "Demo: simulated exome with planted variants",
                      "hpo_terms": ["HP:0001250"]},
                uploads={1: File(h1, name=r1.name), 2: File(h2, name=r2.name)})
        self.stdout.write("Demo sample DEMO1 uploaded; the worker verifies it.")

    @transaction.atomic
    def seed_users(self, reset_passwords: bool) -> None:
        lab = Lab.objects.filter(slug=DEMO_LAB_SLUG).first() or services.lab_create(
            slug=DEMO_LAB_SLUG, name="Demo Genomics Lab")
        users = get_user_model().objects
        created = []
        for email, name, role, is_staff in DEMO_USERS:
            existing = users.filter(email__iexact=email).first()
            if existing is not None:
                if reset_passwords:
                    password = secrets.token_urlsafe(12)
                    existing.set_password(password)
                    existing.save(update_fields=["password"])
                    created.append((email, password, role or "staff"))
                continue
            password = secrets.token_urlsafe(12)
            user = users.create_user(username=email, email=email, password=password,
                                     first_name=name, is_staff=is_staff, is_superuser=is_staff)
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
            if role:
                services.membership_add(lab=lab, user=user, role=role)
            created.append((email, password, role or "staff"))

        if not created:
            self.stdout.write("Demo lab and users already exist; passwords were printed when they "
                              "were created (`scripts/manage seed_demo --reset-passwords` "
                              "prints new ones).")
            return
        self.stdout.write(self.style.SUCCESS(f"Demo lab '{lab.name}' (/labs/{lab.slug}/). "
                                             "Credentials, shown only this once:"))
        for email, password, role in created:
            self.stdout.write(f"  {role:<10} {email:<22} {password}")
