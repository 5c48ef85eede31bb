"""The jobs app's tables, one module per product area, in the areas' order (each refers only to
the ones before it). The base of every jobs sub-package: any of them may import any model."""

from jobs.models.intake import (EXTERNAL_ID_RULE, SAMPLE_NAME_RULE, FileStatus, Sample,
                                SampleFile, SampleStatus, Sex)
from jobs.models.runs import InvalidTransition, Job, JobStatus, QcVerdict
from jobs.models.results import GeneCoverage, Impact, JobOutput, Variant
from jobs.models.review import (Classification, ClinicalClass, FilterPreset, GenePanel,
                                GenePanelVersion, SelectionCategory, VariantSelection)
from jobs.models.reports import Report, ReportStatus
from jobs.models.records import (JobUsage, LabUsageSnapshot, ReconciliationRun,
                                 ReconciliationStatus)

__all__ = ["EXTERNAL_ID_RULE", "SAMPLE_NAME_RULE", "FileStatus", "Sample", "SampleFile",
           "SampleStatus", "Sex", "InvalidTransition", "Job", "JobStatus", "QcVerdict", "Impact", "JobOutput",
           "Variant", "GeneCoverage", "Classification", "ClinicalClass", "FilterPreset", "GenePanel",
           "GenePanelVersion", "SelectionCategory", "VariantSelection", "Report", "ReportStatus", "JobUsage", "LabUsageSnapshot",
           "ReconciliationRun", "ReconciliationStatus"]
