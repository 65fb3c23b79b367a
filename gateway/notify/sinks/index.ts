import type { SinkType } from '../../config/opsSchema.ts';
import { dingtalk } from './dingtalk.ts';
import { feishu } from './feishu.ts';
import { slack } from './slack.ts';
import type { SinkProtocol } from './types.ts';
import { webhook } from './webhook.ts';
import { wecom } from './wecom.ts';

export const PROTOCOLS: Record<SinkType, SinkProtocol> = { dingtalk, feishu, wecom, slack, webhook };
