import { useMemo, type ReactNode } from 'react';
import { Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { elapsed, formatDuration, layout, NODE_H, NODE_W } from '../lib/dag';
import type { Step } from '../lib/types';

type StepNode = Node<{ step: Step; selected: boolean; now: number }, 'step'>;

// StepCard is a node: its status is a class (st-<status>) that sets the
// colour, and a pending step shows its run's place in line. children are
// React Flow's edge handles.
export function StepCard({ step: s, selected, now, children }: { step: Step; selected: boolean; now: number; children?: ReactNode }) {
  const waitNote = s.status === 'pending' && s.place_in_line !== undefined ? ` #${s.place_in_line}` : '';
  const noWorker = s.status === 'queued' && s.waiting_reason ? ' · no worker' : '';
  return (
    <div className={`node st-${s.status.replace(/[^a-z_-]/gi, '')}${selected ? ' sel' : ''}`} title={s.waiting_reason || s.reason || s.status} data-step={s.name} data-status={s.status}>
      {children}
      <div className="node-name">{s.name}</div>
      <div className="node-meta">
        <span>{s.status}{waitNote}{noWorker}</span>
        <span>{formatDuration(s.started_at ? elapsed(s, now) : undefined)}</span>
      </div>
    </div>
  );
}

function StepBox({ data }: NodeProps<StepNode>) {
  return (
    <StepCard step={data.step} selected={data.selected} now={data.now}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </StepCard>
  );
}

const nodeTypes = { step: StepBox };

export function Dag({ steps, selected, onSelect, now }: { steps: Step[]; selected?: string; onSelect: (s: string) => void; now: number }) {
  // Layout depends on the graph's shape only, not on statuses.
  const shape = steps.map((s) => `${s.name}<${s.depends_on.join(',')}`).join(';');
  const placed = useMemo(() => layout(steps), [shape]); // eslint-disable-line react-hooks/exhaustive-deps
  const by = new Map(steps.map((s) => [s.name, s]));
  const nodes: StepNode[] = placed.nodes.map((p) => ({
    id: p.name,
    type: 'step',
    position: { x: p.x, y: p.y },
    data: { step: by.get(p.name)!, selected: p.name === selected, now },
    draggable: false,
    // Fixed sizes: the nodes are rebuilt on every update (status, clock), and
    // React Flow hides a node it has not measured; with the size given it
    // never needs to, so no update can leave the graph blank.
    width: NODE_W,
    height: NODE_H,
  }));
  const edges: Edge[] = steps.flatMap((s) =>
    s.depends_on.filter((d) => by.has(d)).map((d) => ({
      id: `${d}->${s.name}`,
      source: d,
      target: s.name,
      animated: s.status === 'running',
    })),
  );
  return (
    <div className="dag" style={{ height: Math.min(Math.max(placed.height + 40, 160), 480) }}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodeClick={(_, n) => onSelect(n.id)}
        fitView
        fitViewOptions={{ maxZoom: 1, padding: 0.1 }}
        onlyRenderVisibleElements
        nodesConnectable={false}
        proOptions={{ hideAttribution: true }}
        minZoom={0.1}
      />
    </div>
  );
}
