process FASTP_QC {
    tag "${sample}"
    label 'process_medium'
    publishDir "${params.outdir}/qc", mode: 'copy', pattern: '*.fastp.{json,html}'

    input:
    tuple val(sample), path(r1), path(r2)

    output:
    tuple val(sample), path("${sample}_R1.trimmed.fastq.gz"), path("${sample}_R2.trimmed.fastq.gz"), emit: reads
    tuple val(sample), path("${sample}.fastp.json"), path("${sample}.fastp.html"), emit: report

    script:
    """
    step_hook ${task.process}
    fastp_qc --sample ${sample} --r1 ${r1} --r2 ${r2} --threads ${task.cpus}
    """
}
